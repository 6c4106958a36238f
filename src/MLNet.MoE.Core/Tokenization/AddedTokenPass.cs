using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// The added-token step of Hugging Face's encoding, shared by the byte-level and the character-level BPE backends:
/// tokens matched on the raw text (<c>normalized: false</c>) are split out first; each remaining piece goes through the
/// text normalizer and the tokens matched on normalized text (<c>normalized: true</c>, their own text normalized too) are
/// split out of it; special tokens count only when asked for. What is left between tokens goes to the backend's own
/// encoding of plain text.
/// </summary>
internal sealed class AddedTokenPass
{
    private readonly Normalizer? _textNormalizer;
    private readonly AddedTokenSplitter _raw;
    private readonly AddedTokenSplitter _rawWithSpecial;
    private readonly AddedTokenSplitter _normalized;
    private readonly AddedTokenSplitter _normalizedWithSpecial;

    /// <summary>
    /// Splits by <paramref name="rules"/>; <paramref name="tokenNormalizer"/> normalizes the normalized tokens' own text,
    /// <paramref name="textNormalizer"/> the pieces of input between raw tokens (it may add more, such as a prefix space).
    /// </summary>
    public AddedTokenPass(IEnumerable<AddedToken> rules, Normalizer? tokenNormalizer, Normalizer? textNormalizer)
    {
        var all = rules.ToList();
        _textNormalizer = textNormalizer;
        NormalizedForms = all
            .Where(t => t.Normalized)
            .Select(t => t with { Content = tokenNormalizer is null ? t.Content : tokenNormalizer.Normalize(t.Content) })
            .ToList();
        var normalized = NormalizedForms.Where(t => t.Content.Length > 0).ToList();
        _raw = new AddedTokenSplitter(all.Where(t => !t.Normalized && !t.Special));
        _rawWithSpecial = new AddedTokenSplitter(all.Where(t => !t.Normalized));
        _normalized = new AddedTokenSplitter(normalized.Where(t => !t.Special));
        _normalizedWithSpecial = new AddedTokenSplitter(normalized);
    }

    /// <summary>The normalized added tokens with their text as it is matched (normalized).</summary>
    public IReadOnlyList<AddedToken> NormalizedForms { get; }

    /// <summary>
    /// The ids of <paramref name="text"/>: added tokens as their ids, and every stretch of plain text (normalized) given
    /// to <paramref name="encodePlain"/> with whether it starts the input, to append its ids.
    /// </summary>
    public int[] Encode(string text, bool specialTokens, Action<string, bool, List<int>> encodePlain)
    {
        AddedTokenSplitter raw = specialTokens ? _rawWithSpecial : _raw;
        AddedTokenSplitter normalized = specialTokens ? _normalizedWithSpecial : _normalized;
        var ids = new List<int>();
        foreach ((int start, int length, int? id) in raw.Split(text))
        {
            if (id is int tokenId)
            {
                ids.Add(tokenId);
                continue;
            }
            string piece = text.Substring(start, length);
            if (_textNormalizer is not null) piece = _textNormalizer.Normalize(piece);
            foreach ((int subStart, int subLength, int? subId) in normalized.Split(piece))
            {
                if (subId is int subTokenId) ids.Add(subTokenId);
                else encodePlain(piece.Substring(subStart, subLength), start == 0 && subStart == 0, ids);
            }
        }
        return ids.ToArray();
    }
}
