namespace MLNet.MoE;

/// <summary>
/// Next-token scoring over any <see cref="ILanguageModelRunner"/>: a token stream in consecutive context windows, and
/// many rows in right-padded passes. Both backends score through here, so their figures agree up to float rounding.
/// </summary>
internal static class LanguageModelScoring
{
    /// <summary>Windows of one stream run together in a pass.</summary>
    public const int WindowsPerPass = 8;

    /// <summary>
    /// Scores every token of <paramref name="stream"/> after the first: windows hold <paramref name="contextLength"/>
    /// inputs and each starts where the previous one ended, so no token is predicted twice; up to
    /// <paramref name="windowsPerPass"/> full windows share a pass, the last, shorter window runs on its own.
    /// </summary>
    public static StreamScore ScoreStream(ILanguageModelRunner runner, IReadOnlyList<int> stream, int contextLength, int windowsPerPass = WindowsPerPass)
    {
        if (stream.Count < 2) return new StreamScore(0, 0, 0);
        double sum = 0;
        long correct = 0, count = 0;
        var starts = new List<int>();
        for (int s = 0; s + 1 < stream.Count; s += contextLength) starts.Add(s);
        for (int i = 0; i < starts.Count; i += windowsPerPass)
        {
            foreach (var sameLength in starts.Skip(i).Take(windowsPerPass).GroupBy(s => Math.Min(contextLength, stream.Count - 1 - s)))
            {
                int length = sameLength.Key;
                var windows = sameLength.ToList();
                var inputs = new long[windows.Count * length];
                var targets = new long[windows.Count * length];
                for (int w = 0; w < windows.Count; w++)
                {
                    for (int t = 0; t < length; t++)
                    {
                        inputs[w * length + t] = stream[windows[w] + t];
                        targets[w * length + t] = stream[windows[w] + t + 1];
                    }
                }
                var valid = Enumerable.Repeat(length, windows.Count).ToArray();
                var scores = runner.Score(new ScoringBatch(inputs, targets, windows.Count, length, valid));
                sum += scores.CrossEntropy.Sum();
                correct += scores.Correct.Sum();
                count += inputs.Length;
            }
        }
        return new StreamScore(sum, correct, count);
    }

    /// <summary>Scores a document's tokens, the first predicted from <paramref name="endOfText"/>.</summary>
    public static StreamScore ScoreDocument(ILanguageModelRunner runner, IReadOnlyList<int> tokens, int endOfText, int contextLength)
    {
        var stream = new int[tokens.Count + 1];
        stream[0] = endOfText;
        for (int i = 0; i < tokens.Count; i++) stream[i + 1] = tokens[i];
        return ScoreStream(runner, stream, contextLength);
    }

    /// <summary>
    /// Scores each row as <see cref="ScoreDocument"/> does with as few passes as possible. Rows that fit in one context
    /// are sorted longest first and run together, right-padded to the longest row of their pass: attention is causal
    /// and positions start at 0 in every row, so a row's valid positions never see its padding, and padded positions are
    /// left out of the sums. The MoE layers route each token on its own and drop nothing outside training, so padding
    /// cannot change another token's experts either. Rows longer than the context are scored on their own in windows.
    /// </summary>
    public static StreamScore[] ScoreDocuments(ILanguageModelRunner runner, IReadOnlyList<IReadOnlyList<int>> rows, int endOfText, int contextLength, int maxTokensPerPass)
    {
        var results = new StreamScore[rows.Count];
        var fitting = new List<int>();
        for (int r = 0; r < rows.Count; r++)
        {
            var row = rows[r];
            if (row.Count == 0) results[r] = new StreamScore(0, 0, 0);
            else if (row.Count > contextLength) results[r] = ScoreDocument(runner, row, endOfText, contextLength);
            else fitting.Add(r);
        }
        fitting.Sort((a, b) => rows[b].Count.CompareTo(rows[a].Count));
        for (int start = 0; start < fitting.Count;)
        {
            int longest = rows[fitting[start]].Count;
            int count = Math.Max(1, Math.Min(fitting.Count - start, maxTokensPerPass / longest));
            var pass = fitting.GetRange(start, count);
            // A row of n tokens: inputs [end-of-text, t0 … t(n-2)], targets [t0 … t(n-1)], then padding.
            var inputs = new long[count * longest];
            var targets = new long[count * longest];
            var valid = new int[count];
            for (int b = 0; b < count; b++)
            {
                var row = rows[pass[b]];
                valid[b] = row.Count;
                for (int t = 0; t < longest; t++)
                {
                    bool inRow = t < row.Count;
                    inputs[b * longest + t] = t == 0 || !inRow ? endOfText : row[t - 1];
                    targets[b * longest + t] = inRow ? row[t] : endOfText;
                }
            }
            var scores = runner.Score(new ScoringBatch(inputs, targets, count, longest, valid));
            for (int b = 0; b < count; b++) results[pass[b]] = new StreamScore(scores.CrossEntropy[b], scores.Correct[b], rows[pass[b]].Count);
            start += count;
        }
        return results;
    }
}
