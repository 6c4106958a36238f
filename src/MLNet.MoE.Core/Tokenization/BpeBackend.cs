using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>Byte-level BPE (GPT-2 style) through <see cref="BpeTokenizer"/>.</summary>
internal sealed class BpeBackend : TokenizerBackend
{
    private readonly BpeTokenizer _tokenizer;
    private readonly Dictionary<int, string> _literalTokens;
    private readonly HashSet<int> _vocabularyIds;

    /// <summary>Builds the tokenizer; <paramref name="source"/> names the input in error messages.</summary>
    public BpeBackend(BpeModelDefinition definition, string source)
    {
        // Special tokens are deliberately not given to BpeTokenizer (nor to its pre-tokenizer): it would turn
        // special-token text found in the input into special ids, and Encode must treat all input as plain text.
        var options = new BpeOptions(definition.Vocabulary)
        {
            Merges = definition.Merges,
            PreTokenizer = definition.PreTokenizer,
            Normalizer = definition.Normalizer,
            ContinuingSubwordPrefix = definition.ContinuingSubwordPrefix,
            EndOfWordSuffix = definition.EndOfWordSuffix,
            ByteLevel = true,
        };
        try
        {
            _tokenizer = BpeTokenizer.Create(options);
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidDataException($"{source}: {MessageText.Printable(ex.Message)}", ex);
        }

        // Added tokens, and any vocabulary entry that is not made of byte-level symbols, decode to their own text
        // (BpeTokenizer's byte-level decoder can only map byte symbols back to bytes).
        _literalTokens = new Dictionary<int, string>();
        foreach (KeyValuePair<string, int> entry in definition.Vocabulary)
        {
            if (!ByteLevelAlphabet.IsSymbolString(entry.Key)) _literalTokens[entry.Value] = entry.Key;
        }
        foreach (KeyValuePair<string, int> entry in definition.AddedTokens)
        {
            _literalTokens[entry.Value] = entry.Key;
        }

        _vocabularyIds = definition.Vocabulary.Values.ToHashSet();

        int max = -1;
        foreach (int id in definition.Vocabulary.Values) max = Math.Max(max, id);
        foreach (int id in definition.AddedTokens.Values) max = Math.Max(max, id);
        VocabularySize = max + 1;
        EndOfTextId = definition.EndOfTextId;
        EndOfTextToken = definition.EndOfTextToken;
    }

    /// <inheritdoc />
    public override int VocabularySize { get; }

    /// <inheritdoc />
    public override int EndOfTextId { get; }

    /// <inheritdoc />
    public override string EndOfTextToken { get; }

    /// <inheritdoc />
    public override int[] Encode(string text) => _tokenizer.EncodeToIds(text).ToArray();

    /// <inheritdoc />
    public override bool HasToken(int id) => _literalTokens.ContainsKey(id) || _vocabularyIds.Contains(id);

    /// <inheritdoc />
    public override string DecodeChecked(IReadOnlyList<int> ids)
    {
        var text = new System.Text.StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            if (_literalTokens.TryGetValue(id, out string? literal))
            {
                Flush();
                text.Append(literal);
            }
            else
            {
                run.Add(id);
            }
        }
        Flush();
        return text.ToString();

        void Flush()
        {
            if (run.Count == 0) return;
            text.Append(_tokenizer.Decode(run));
            run.Clear();
        }
    }
}
