using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>Byte-level BPE (GPT-2 style) through <see cref="BpeTokenizer"/>.</summary>
internal sealed class BpeBackend : TokenizerBackend
{
    private readonly BpeTokenizer _tokenizer;
    private readonly Dictionary<int, string> _literalTokens;
    private readonly HashSet<int> _vocabularyIds;
    private readonly AddedTokenPass _addedTokens;
    private readonly PreTokenizer? _wordSplitter;
    private readonly Dictionary<string, int>? _vocabulary;

    /// <summary>Builds the tokenizer; <paramref name="source"/> names the input in error messages.</summary>
    public BpeBackend(BpeModelDefinition definition, string source)
    {
        // Added tokens are not given to BpeTokenizer (nor to its pre-tokenizer), which knows no lstrip, rstrip,
        // single_word or normalized flags and cannot leave special tokens as plain text: they are split out first, here,
        // and the normalizer runs on the text between them, as in Hugging Face tokenizers.
        // Normalized added tokens are looked for in normalized text, so their own text goes through the file's
        // normalizer too, as Hugging Face does.
        Normalizer? fileNormalizer = definition.Normalizer;
        Normalizer? textNormalizer = definition.AddPrefixSpace
            ? new TextNormalizer([s => fileNormalizer is null ? s : fileNormalizer.Normalize(s), TextNormalizer.PrefixSpace])
            : fileNormalizer;
        _addedTokens = new AddedTokenPass(definition.AddedTokenRules, fileNormalizer, textNormalizer);

        // ignore_merges (Llama-3): a pre-tokenized word that is itself in the vocabulary is one token. BpeTokenizer has no
        // such option, so the words are cut here and BpeTokenizer gets one word at a time.
        if (definition.IgnoreMerges)
        {
            _wordSplitter = definition.PreTokenizer;
            _vocabulary = definition.Vocabulary;
        }
        var options = new BpeOptions(definition.Vocabulary)
        {
            Merges = definition.Merges,
            PreTokenizer = definition.IgnoreMerges ? new WholeTextPreTokenizer() : definition.PreTokenizer,
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
        // A normalized added token decodes in its normalized form, as in Hugging Face tokenizers 0.23.
        foreach (AddedToken token in _addedTokens.NormalizedForms.Where(t => t.Content.Length > 0)) _literalTokens[token.Id] = token.Content;

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
    public override int[] Encode(string text) => Encode(text, specialTokens: false);

    /// <inheritdoc />
    public override int[] Encode(string text, bool specialTokens) =>
        _addedTokens.Encode(text, specialTokens, (plain, _, ids) =>
        {
            if (_wordSplitter is null) ids.AddRange(_tokenizer.EncodeToIds(plain));
            else EncodeWords(plain, ids);
        });

    /// <summary>ignore_merges: each word found whole in the vocabulary (as byte-level symbols) is one token; the others go through BPE.</summary>
    private void EncodeWords(string text, List<int> ids)
    {
        foreach ((int offset, int length) in _wordSplitter!.PreTokenize(text))
        {
            string word = text.Substring(offset, length);
            byte[] bytes = System.Text.Encoding.UTF8.GetBytes(word);
            var symbols = new System.Text.StringBuilder(bytes.Length);
            foreach (byte b in bytes) symbols.Append(ByteLevelAlphabet.ByteToChar[b]);
            if (_vocabulary!.TryGetValue(symbols.ToString(), out int id)) ids.Add(id);
            else ids.AddRange(_tokenizer.EncodeToIds(word));
        }
    }

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
