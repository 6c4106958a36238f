
namespace MLNet.MoE;

/// <summary>
/// The token sequence a text classifier reads for a row: end-of-text, the first text's tokens, (end-of-text, the second
/// text's tokens,) end-of-text. The leading end-of-text is what a language model of this package saw before every
/// document; the trailing one gives last-token pooling a position that has read the whole row, and gives an empty text
/// a sequence to score. Rows longer than the maximum keep their first tokens and the trailing end-of-text.
/// </summary>
internal static class TextClassificationTokens
{
    public static int[] Encode(MoeTokenizer tokenizer, string text, string? second, int maxLength) =>
        Encode(tokenizer, text, second, maxLength, out _);

    /// <summary>The sequence, and whether the row was cut to <paramref name="maxLength"/>.</summary>
    public static int[] Encode(MoeTokenizer tokenizer, string text, string? second, int maxLength, out bool truncated)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "maxLength must leave room for the end-of-text tokens.");
        int eot = tokenizer.EndOfTextId;
        int[] first = tokenizer.Encode(text);
        // Sized by the row, not by maxLength: the maximum is a bound, and may be far larger than any row.
        var ids = new List<int>(Math.Min(maxLength, first.Length + 3)) { eot };
        ids.AddRange(first);
        if (second != null)
        {
            ids.Add(eot);
            ids.AddRange(tokenizer.Encode(second));
        }
        truncated = ids.Count > maxLength - 1;
        if (truncated) ids.RemoveRange(maxLength - 1, ids.Count - (maxLength - 1));
        ids.Add(eot);
        return ids.ToArray();
    }
}
