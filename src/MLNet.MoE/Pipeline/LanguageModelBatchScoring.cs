using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Scores many token sequences with as few forward passes as possible, for callers that gather rows from many
/// requests (a scoring service's micro-batches). Each result equals <see cref="LanguageModelTransformer.ScoreTokens"/>
/// of the same row, up to float rounding.
/// </summary>
public static class LanguageModelBatchScoring
{
    /// <summary>Padded tokens (rows × longest row) per forward pass by default: the logits of a pass take this × vocabulary × 4 bytes.</summary>
    public const int DefaultMaxTokensPerPass = 4096;

    /// <summary>
    /// Scores each row of <paramref name="rows"/> as <see cref="LanguageModelTransformer.ScoreTokens"/> does (summed
    /// cross-entropy, correct next tokens and tokens scored; the first token predicted from end-of-text).
    /// Rows that fit in one context window are sorted by length and run together, right-padded to the longest row of
    /// their pass: attention is causal and positions start at 0 in every row, so a row's valid positions never see its
    /// padding, and padded positions are masked out of the sums. The MoE layers route each token on its own and drop
    /// nothing outside training, so padding tokens cannot change another token's experts either. Rows longer than the
    /// context are scored on their own in consecutive windows. The model must be in evaluation mode, as a transformer's is.
    /// </summary>
    /// <param name="transformer">The language model.</param>
    /// <param name="rows">Token ids per row (each id within the vocabulary).</param>
    /// <param name="maxTokensPerPass">Upper bound on rows × padded length per forward pass (one row always fits).</param>
    /// <returns>One score per row, in the order of <paramref name="rows"/>.</returns>
    public static StreamScore[] ScoreBatch(this LanguageModelTransformer transformer, IReadOnlyList<IReadOnlyList<int>> rows, int maxTokensPerPass = DefaultMaxTokensPerPass)
    {
        ArgumentNullException.ThrowIfNull(transformer);
        ArgumentNullException.ThrowIfNull(rows);
        if (maxTokensPerPass < 1) throw new ArgumentOutOfRangeException(nameof(maxTokensPerPass), maxTokensPerPass, "maxTokensPerPass must be at least 1.");
        int vocabulary = transformer.Model.Config.VocabSize;
        var results = new StreamScore[rows.Count];
        var fitting = new List<int>();
        for (int r = 0; r < rows.Count; r++)
        {
            var row = rows[r] ?? throw new ArgumentNullException(nameof(rows), $"Row {r} of the batch is null.");
            foreach (int id in row)
            {
                if ((uint)id >= (uint)vocabulary)
                    throw new ArgumentOutOfRangeException(nameof(rows), $"Token id {id} in row {r} of the batch is outside the model's vocabulary (0..{vocabulary - 1}).");
            }
            if (row.Count == 0) results[r] = new StreamScore(0, 0, 0);
            else if (row.Count > transformer.ContextLength) results[r] = transformer.ScoreTokens(row);
            else fitting.Add(r);
        }
        // Longest first, so each pass pads its rows to a similar length.
        fitting.Sort((a, b) => rows[b].Count.CompareTo(rows[a].Count));
        for (int start = 0; start < fitting.Count;)
        {
            int longest = rows[fitting[start]].Count;
            int count = Math.Max(1, Math.Min(fitting.Count - start, maxTokensPerPass / longest));
            ScorePass(transformer, rows, fitting.GetRange(start, count), longest, results);
            start += count;
        }
        return results;
    }

    private static void ScorePass(LanguageModelTransformer transformer, IReadOnlyList<IReadOnlyList<int>> rows, List<int> pass, int length, StreamScore[] results)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        int endOfText = transformer.Tokenizer.EndOfTextId;
        int batch = pass.Count;
        // Row of n tokens: inputs [end-of-text, t0 … t(n-2)], targets [t0 … t(n-1)], then padding (masked out).
        var inputs = new long[batch * length];
        var targets = new long[batch * length];
        var valid = new float[batch * length];
        for (int b = 0; b < batch; b++)
        {
            var row = rows[pass[b]];
            int offset = b * length;
            for (int t = 0; t < length; t++)
            {
                bool inRow = t < row.Count;
                inputs[offset + t] = t == 0 ? endOfText : inRow ? row[t - 1] : endOfText;
                targets[offset + t] = inRow ? row[t] : 0;
                valid[offset + t] = inRow ? 1f : 0f;
            }
        }
        var device = transformer.Model.Device;
        var x = torch.tensor(inputs, new long[] { batch, length }).to(device);
        var y = torch.tensor(targets, new long[] { batch, length }).to(device);
        var mask = torch.tensor(valid, new long[] { batch, length }).to(device);
        var logits = transformer.Model.Forward(x, new ForwardContext());
        var perToken = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), y.reshape(-1), reduction: nn.Reduction.None).view(batch, length);
        var sums = (perToken * mask).sum(1).to(ScalarType.Float64).cpu().data<double>().ToArray();
        var hits = (logits.argmax(-1).eq(y).to(ScalarType.Float32) * mask).sum(1).to(ScalarType.Int64).cpu().data<long>().ToArray();
        for (int b = 0; b < batch; b++) results[pass[b]] = new StreamScore(sums[b], hits[b], rows[pass[b]].Count);
    }
}
