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
    private readonly PreTokenizer _preTokenizer;
    private readonly MetaspaceSettings? _metaspace;
    private readonly TokenDecoder _decoder;
    private readonly Dictionary<int, string> _tokenOfId;
    private readonly AddedTokenPass _addedTokens;

    /// <summary>Builds the tokenizer from a definition whose <see cref="BpeModelDefinition.ByteLevel"/> is false.</summary>
    public CharacterBpeBackend(BpeModelDefinition definition)
    {
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
        _addedTokens = new AddedTokenPass(definition.AddedTokenRules, definition.Normalizer, definition.Normalizer);

        _tokenOfId = new Dictionary<int, string>();
        foreach (KeyValuePair<string, int> entry in definition.Vocabulary) _tokenOfId[entry.Value] = entry.Key;
        foreach (KeyValuePair<string, int> entry in definition.AddedTokens) _tokenOfId[entry.Value] = entry.Key;
        foreach (AddedToken token in _addedTokens.NormalizedForms) _tokenOfId[token.Id] = token.Content;
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
    public override int[] Encode(string text, bool specialTokens) =>
        _addedTokens.Encode(text, specialTokens, (words, atInputStart, ids) =>
        {
            if (_metaspace is not null)
            {
                foreach (string word in _metaspace.Words(_metaspace.Apply(words, atInputStart))) _model.Encode(word, ids);
                return;
            }
            foreach ((int wordStart, int wordLength) in _preTokenizer.PreTokenize(words)) _model.Encode(words.Substring(wordStart, wordLength), ids);
        });

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
