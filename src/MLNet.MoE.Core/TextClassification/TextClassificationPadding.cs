namespace MLNet.MoE;

/// <summary>
/// How both classifier backends batch token sequences: sorted by length (so little padding is computed), cut into
/// batches, each right-padded to its longest sequence.
/// </summary>
internal static class TextClassificationPadding
{
    /// <summary>Batches of indices into <paramref name="sequences"/>, shortest sequences first, at most <paramref name="batchSize"/> each.</summary>
    public static IEnumerable<int[]> Batches(IReadOnlyList<int[]> sequences, int batchSize)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        var order = Enumerable.Range(0, sequences.Count).OrderBy(i => sequences[i].Length).ToArray();
        for (int start = 0; start < order.Length; start += batchSize) yield return order[start..Math.Min(order.Length, start + batchSize)];
    }

    /// <summary>Ids [B × width] (row-major) right-padded with <paramref name="padId"/> to the longest sequence, the lengths [B] and the width.</summary>
    public static (long[] Ids, long[] Lengths, int Width) Pad(IReadOnlyList<int[]> sequences, int padId)
    {
        if (sequences.Count == 0) throw new ArgumentException("A batch needs at least one sequence.", nameof(sequences));
        if (sequences.Any(s => s.Length == 0)) throw new ArgumentException("Every sequence needs at least one token.", nameof(sequences));
        int width = sequences.Max(s => s.Length);
        var ids = new long[sequences.Count * width];
        var lengths = new long[sequences.Count];
        for (int b = 0; b < sequences.Count; b++)
        {
            var s = sequences[b];
            lengths[b] = s.Length;
            for (int t = 0; t < width; t++) ids[b * width + t] = t < s.Length ? s[t] : padId;
        }
        return (ids, lengths, width);
    }

    /// <summary>
    /// A batch's n-gram bucket ids (from <see cref="TextClassificationNgrams.Hash"/>) as [B × width] ids (int64) and weights
    /// (each occurrence's <see cref="TextClassificationNgrams.Weight"/>), row-major, right-padded with id 0 and weight 0 to
    /// the row of most occurrences (width at least 1, so a batch of rows without n-grams still has a column), and the width.
    /// </summary>
    public static (long[] Ids, float[] Weights, int Width) PadNgrams(IReadOnlyList<int[]> rows)
    {
        if (rows.Count == 0) throw new ArgumentException("A batch needs at least one row.", nameof(rows));
        int width = Math.Max(1, rows.Max(r => r.Length));
        var ids = new long[rows.Count * width];
        var weights = new float[rows.Count * width];
        for (int b = 0; b < rows.Count; b++)
        {
            float weight = TextClassificationNgrams.Weight(rows[b].Length);
            for (int i = 0; i < rows[b].Length; i++)
            {
                ids[b * width + i] = rows[b][i];
                weights[b * width + i] = weight;
            }
        }
        return (ids, weights, width);
    }
}
