namespace MLNet.MoE;

/// <summary>Next-token cross-entropy from one position's logits on the CPU, for runners whose logits arrive as floats.</summary>
internal static class LogitsCrossEntropy
{
    /// <summary>−log softmax(<paramref name="logits"/>)[<paramref name="target"/>], and whether the target is the most likely id.</summary>
    public static double Of(ReadOnlySpan<float> logits, int target, out bool mostLikely)
    {
        int best = 0;
        float max = logits[0];
        for (int v = 1; v < logits.Length; v++)
        {
            if (logits[v] > max)
            {
                max = logits[v];
                best = v;
            }
        }
        double total = 0;
        for (int v = 0; v < logits.Length; v++) total += Math.Exp(logits[v] - max);
        mostLikely = best == target;
        return Math.Log(total) + max - logits[target];
    }

    /// <summary>Scores a pass from its logits [rows, length, vocabulary] (flattened).</summary>
    public static RowScores Score(ScoringBatch batch, ReadOnlySpan<float> logits, int vocabulary)
    {
        var sums = new double[batch.Rows];
        var correct = new long[batch.Rows];
        for (int r = 0; r < batch.Rows; r++)
        {
            for (int t = 0; t < batch.ValidLengths[r]; t++)
            {
                int at = r * batch.Length + t;
                sums[r] += Of(logits.Slice(at * vocabulary, vocabulary), (int)batch.Targets[at], out bool hit);
                if (hit) correct[r]++;
            }
        }
        return new RowScores(sums, correct);
    }
}
