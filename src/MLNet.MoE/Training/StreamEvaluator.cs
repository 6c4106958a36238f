using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Mean next-token cross-entropy of a model over a whole token stream, in consecutive windows of the context length.</summary>
public static class StreamEvaluator
{
    /// <summary>Returns the mean cross-entropy (nats per predicted token) and the number of predicted tokens; NaN and 0 for a stream shorter than 2 tokens.</summary>
    public static (double CrossEntropy, long Tokens) Evaluate(MoeCausalLM model, int[] stream, int contextLength, int batchSize, Device device)
    {
        var score = Score(model, stream, contextLength, batchSize, device);
        return (score.Tokens == 0 ? double.NaN : score.CrossEntropySum / score.Tokens, score.Tokens);
    }

    /// <summary>
    /// Scores every token of <paramref name="stream"/> after the first: the summed cross-entropy (nats), how many were the
    /// model's most likely token, and how many were predicted. Windows hold <paramref name="contextLength"/> inputs; each
    /// window starts where the previous one ended, so no token is predicted twice.
    /// </summary>
    public static StreamScore Score(MoeCausalLM model, IReadOnlyList<int> stream, int contextLength, int batchSize, Device device)
    {
        if (stream.Count < 2) return new StreamScore(0, 0, 0);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            double sum = 0;
            long correct = 0;
            long count = 0;
            var starts = new List<int>();
            for (int s = 0; s + 1 < stream.Count; s += contextLength) starts.Add(s);
            for (int i = 0; i < starts.Count; i += batchSize)
            {
                // Full-length windows go in batches; the last, shorter window on its own.
                var group = starts.Skip(i).Take(batchSize).ToList();
                foreach (var sameLength in group.GroupBy(s => Math.Min(contextLength, stream.Count - 1 - s)))
                {
                    using var scope = torch.NewDisposeScope();
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
                    var x = torch.tensor(inputs, new long[] { windows.Count, length }).to(device);
                    var y = torch.tensor(targets, new long[] { windows.Count, length }).to(device);
                    var logits = model.Forward(x, new ForwardContext());
                    var loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), y.reshape(-1), reduction: nn.Reduction.Sum);
                    var hits = logits.argmax(-1).eq(y).sum();
                    sum += loss.item<float>();
                    correct += hits.item<long>();
                    count += inputs.Length;
                }
            }
            return new StreamScore(sum, correct, count);
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}

/// <summary>Totals of scoring a token stream.</summary>
/// <param name="CrossEntropySum">Summed next-token cross-entropy in nats.</param>
/// <param name="Correct">Tokens that were the model's most likely next token.</param>
/// <param name="Tokens">Tokens predicted.</param>
public readonly record struct StreamScore(double CrossEntropySum, long Correct, long Tokens);
