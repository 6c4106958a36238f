using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Autoregressive generation of token ids: one forward pass over the prompt, then one token at a time.</summary>
public static class TokenGenerator
{
    /// <summary>
    /// Generates up to <paramref name="maxNewTokens"/> ids after <paramref name="prompt"/>. With <paramref name="useCache"/>
    /// the prompt's keys/values are cached and each step feeds only the new token; without it every step recomputes the
    /// whole sequence (same tokens, slower; kept to check the cache). Stops early when <paramref name="stop"/> returns true
    /// for the ids generated so far (the id that triggered it is kept) or at <paramref name="stopId"/> (not kept).
    /// The prompt plus the generated ids must fit in max_position_embeddings.
    /// </summary>
    public static int[] Generate(MoeCausalLM model, IReadOnlyList<int> prompt, int maxNewTokens, TokenSampler sampler,
        int? stopId = null, Func<IReadOnlyList<int>, bool>? stop = null, bool useCache = true)
    {
        if (prompt.Count == 0) throw new ArgumentException("The prompt must hold at least one token.", nameof(prompt));
        if (prompt.Count + maxNewTokens > model.Config.MaxPositionEmbeddings)
            throw new ArgumentException($"Prompt ({prompt.Count} tokens) plus new tokens ({maxNewTokens}) exceed max_position_embeddings ({model.Config.MaxPositionEmbeddings}).", nameof(maxNewTokens));
        bool wasTraining = model.training;
        model.eval();
        var generated = new List<int>();
        var all = prompt.ToList();
        try
        {
            using var noGrad = torch.no_grad();
            using var cache = useCache ? new KeyValueCache(model.Config.NumHiddenLayers) : null;
            var device = model.Device;
            IReadOnlyList<int> feed = prompt;
            for (int i = 0; i < maxNewTokens; i++)
            {
                using var scope = torch.NewDisposeScope();
                var ids = torch.tensor(feed.Select(t => (long)t).ToArray(), new long[] { 1, feed.Count }).to(device);
                var logits = model.Forward(ids, new ForwardContext { Cache = cache });
                var last = logits[0, -1].to(ScalarType.Float32).cpu();
                int next = sampler.Next(last.data<float>().ToArray());
                if (stopId.HasValue && next == stopId.Value) break;
                generated.Add(next);
                all.Add(next);
                if (stop != null && stop(generated)) break;
                feed = useCache ? new[] { next } : all;
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return generated.ToArray();
    }
}
