using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// Character-level BPE from a Hugging Face tokenizer.json (Llama-2, Mistral, Gemma style: "▁" for spaces, byte
/// fallback), in Hugging Face tokenizers' order: added tokens that are not normalized are split out of the text; the
/// normalizer runs on each piece between them; normalized added tokens (their text normalized too) are split out of
/// that; the pre-tokenizer (Split, Digits, Sequence, Metaspace, or none) cuts the rest into words, which
/// <see cref="CharacterBpeModel"/> encodes. Decoding sends the token texts through the file's decoder
/// (<see cref="TokenDecoder"/>).
/// </summary>
internal sealed class CharacterBpeBackend : TokenizerBackend
{
    private readonly CharacterBpeModel _model;
    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer _preTokenizer;
    private readonly MetaspaceSettings? _metaspace;
    private readonly TokenDecoder _decoder;
    private readonly Dictionary<int, string> _tokenOfId;
    private readonly AddedTokenSplitter _rawTokens;
    private readonly AddedTokenSplitter _rawTokensWithSpecial;
    private readonly AddedTokenSplitter _normalizedTokens;
    private readonly AddedTokenSplitter _normalizedTokensWithSpecial;

    /// <summary>Builds the tokenizer from a definition whose <see cref="BpeModelDefinition.ByteLevel"/> is false.</summary>
    public CharacterBpeBackend(BpeModelDefinition definition)
    {
        _normalizer = definition.Normalizer;
        _preTokenizer = definition.PreTokenizer;
        _metaspace = definition.Metaspace;
        _decoder = definition.Decoder ?? new TokenDecoder(null);
        int? unknownId = definition.UnknownToken is null ? null : definition.Vocabulary[definition.UnknownToken];
        _model = new CharacterBpeModel(
            definition.Vocabulary, definition.MergePairs, definition.ContinuingSubwordPrefix, definition.EndOfWordSuffix,
            unknownId, definition.FuseUnknown, definition.ByteFallback, definition.IgnoreMerges);
        UnknownToken = definition.UnknownToken;

        // Normalized added tokens are looked for in normalized text, so their own text is normalized too, as Hugging Face
        // does (with a Prepend normalizer "[NEW]" is looked for as "▁[NEW]").
        // Decoding gives them in that normalized form too (Hugging Face tokenizers 0.23's simple_id_to_token), so that the
        // decoder undoes the normalization: "▁[NEW]" decodes to " [NEW]".
        var normalizedForms = definition.AddedTokenRules
            .Where(t => t.Normalized)
            .Select(t => t with { Content = _normalizer is null ? t.Content : _normalizer.Normalize(t.Content) })
            .ToList();
        var normalized = normalizedForms.Where(t => t.Content.Length > 0).ToList();
        _rawTokens = new AddedTokenSplitter(definition.AddedTokenRules.Where(t => !t.Normalized && !t.Special));
        _rawTokensWithSpecial = new AddedTokenSplitter(definition.AddedTokenRules.Where(t => !t.Normalized));
        _normalizedTokens = new AddedTokenSplitter(normalized.Where(t => !t.Special));
        _normalizedTokensWithSpecial = new AddedTokenSplitter(normalized);

        _tokenOfId = new Dictionary<int, string>();
        foreach (KeyValuePair<string, int> entry in definition.Vocabulary) _tokenOfId[entry.Value] = entry.Key;
        foreach (KeyValuePair<string, int> entry in definition.AddedTokens) _tokenOfId[entry.Value] = entry.Key;
        foreach (AddedToken token in normalizedForms) _tokenOfId[token.Id] = token.Content;
        VocabularySize = _tokenOfId.Keys.Max() + 1;
        EndOfTextId = definition.EndOfTextId;
        EndOfTextToken = definition.EndOfTextToken;
    }

    /// <inheritdoc />
    public override int VocabularySize { get; }

    /// <inheritdoc />
    public override int EndOfTextId { get; }

    /// <inheritdoc />
    public override string EndOfTextToken { get; }

    /// <summary>model.unk_token, when the file sets one.</summary>
    public string? UnknownToken { get; }

    /// <inheritdoc />
    public override int[] Encode(string text) => Encode(text, specialTokens: false);

    /// <inheritdoc />
    public override int[] Encode(string text, bool specialTokens)
    {
        AddedTokenSplitter raw = specialTokens ? _rawTokensWithSpecial : _rawTokens;
        AddedTokenSplitter normalized = specialTokens ? _normalizedTokensWithSpecial : _normalizedTokens;
        var ids = new List<int>();
        foreach ((int start, int length, int? id) in raw.Split(text))
        {
            if (id is int tokenId)
            {
                ids.Add(tokenId);
                continue;
            }
            string piece = text.Substring(start, length);
            if (_normalizer is not null) piece = _normalizer.Normalize(piece);
            foreach ((int subStart, int subLength, int? subId) in normalized.Split(piece))
            {
                if (subId is int subTokenId)
                {
                    ids.Add(subTokenId);
                    continue;
                }
                string words = piece.Substring(subStart, subLength);
                if (_metaspace is not null)
                {
                    foreach (string word in _metaspace.Words(_metaspace.Apply(words, atInputStart: start == 0 && subStart == 0)))
                    {
                        _model.Encode(word, ids);
                    }
                    continue;
                }
                foreach ((int wordStart, int wordLength) in _preTokenizer.PreTokenize(words))
                {
                    _model.Encode(words.Substring(wordStart, wordLength), ids);
                }
            }
        }
        return ids.ToArray();
    }

    /// <inheritdoc />
    public override bool HasToken(int id) => _tokenOfId.ContainsKey(id);

    /// <inheritdoc />
    public override string DecodeChecked(IReadOnlyList<int> ids)
    {
        var tokens = new List<string>(ids.Count);
        foreach (int id in ids) tokens.Add(_tokenOfId[id]);
        return _decoder.Decode(tokens);
    }
}
