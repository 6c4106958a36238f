namespace MLNet.MoE;

/// <summary>Generation of token ids straight from a <see cref="MoeCausalLM"/> (the model need not be in a transformer).</summary>
internal static class TokenGenerator
{
    /// <summary>
    /// Generates up to <paramref name="maxNewTokens"/> ids after <paramref name="prompt"/> through the shared
    /// <see cref="TextGeneration"/> loop. With <paramref name="useCache"/> the prompt's keys/values are cached and each step
    /// feeds only the new token; without it every step recomputes the whole sequence (same tokens, slower; kept to check
    /// the cache). Stops early when <paramref name="stop"/> returns true for the ids generated so far (the id that
    /// triggered it is kept) or at <paramref name="stopId"/> (not kept). <paramref name="adapters"/>, when given, are added in every pass.
    /// </summary>
    public static int[] Generate(MoeCausalLM model, IReadOnlyList<int> prompt, int maxNewTokens, TokenSampler sampler,
        int? stopId = null, Func<IReadOnlyList<int>, bool>? stop = null, bool useCache = true, LoraAdapters? adapters = null)
    {
        using var runner = new TorchLanguageModelRunner(model, ownsModel: false, adapters) { UseCache = useCache };
        return TextGeneration.GenerateIds(runner, prompt, maxNewTokens, sampler, stopId, stop);
    }
}
