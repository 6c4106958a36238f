namespace MLNet.MoE;

/// <summary>
/// The generation loop over any <see cref="ILanguageModelRunner"/>: one pass over the prompt, then one token a step
/// from the cached session. Both backends generate through here.
/// </summary>
internal static class TextGeneration
{
    /// <summary>
    /// Generates up to <paramref name="maxNewTokens"/> ids after <paramref name="prompt"/>. Stops at
    /// <paramref name="stopId"/> (not returned) or when <paramref name="step"/>, called with the ids so far after each new
    /// one, returns true (the id that triggered it is kept). The prompt plus the new ids must fit in the model's positions.
    /// </summary>
    public static int[] GenerateIds(ILanguageModelRunner runner, IReadOnlyList<int> prompt, int maxNewTokens, TokenSampler sampler,
        int? stopId, Func<IReadOnlyList<int>, bool>? step)
    {
        var generated = new List<int>();
        foreach (int next in SampleIds(runner, prompt, maxNewTokens, sampler))
        {
            if (stopId.HasValue && next == stopId.Value) break;
            generated.Add(next);
            if (step != null && step(generated)) break;
        }
        return generated.ToArray();
    }

    /// <summary>
    /// Samples up to <paramref name="maxNewTokens"/> ids after <paramref name="prompt"/>, one a step, lazily: the cached
    /// decoding session opens at the first <c>MoveNext</c> (the pass over the prompt) and closes when the enumeration ends
    /// or is disposed, so a caller stops whenever it likes (an end token, a stop sequence, a cancelled request). The
    /// arguments are checked at the call. A session keeps per-thread state of its backend (TorchSharp's no-grad mode), so
    /// one enumeration runs on one thread.
    /// </summary>
    public static IEnumerable<int> SampleIds(ILanguageModelRunner runner, IReadOnlyList<int> prompt, int maxNewTokens, TokenSampler sampler)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Count == 0) throw new ArgumentException("The prompt must hold at least one token.", nameof(prompt));
        if (maxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), maxNewTokens, "maxNewTokens must not be negative.");
        if (prompt.Count + maxNewTokens > runner.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(maxNewTokens), $"Prompt ({prompt.Count} tokens) plus new tokens ({maxNewTokens}) exceed the model's max_position_embeddings ({runner.MaxPositions}).");
        foreach (int id in prompt)
        {
            if ((uint)id >= (uint)runner.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(prompt), $"Prompt token id {id} is outside the model's vocabulary (0..{runner.VocabSize - 1}).");
        }
        return Sample(runner, prompt, maxNewTokens, sampler);
    }

    private static IEnumerable<int> Sample(ILanguageModelRunner runner, IReadOnlyList<int> prompt, int maxNewTokens, TokenSampler sampler)
    {
        if (maxNewTokens == 0) yield break;
        using var session = runner.StartDecoding();
        IReadOnlyList<int> feed = prompt;
        for (int i = 0; i < maxNewTokens; i++)
        {
            int next = sampler.Next(session.Feed(feed));
            yield return next;
            feed = new[] { next };
        }
    }

    /// <summary>
    /// Generates a continuation of <paramref name="prompt"/>: end-of-text first, then the prompt's ids, keeping the last
    /// ones when they do not leave room for the new tokens in <paramref name="contextLength"/>; stops at end-of-text
    /// (when the options say so) or at the first stop sequence, whose text and what follows it are cut off.
    /// </summary>
    public static string Generate(ILanguageModelRunner runner, MoeTokenizer tokenizer, string prompt, GenerationOptions options, int contextLength)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options.Validate();
        int maxNew = Math.Min(options.MaxNewTokens, contextLength - 1);
        var ids = new List<int> { tokenizer.EndOfTextId };
        ids.AddRange(tokenizer.Encode(prompt));
        int keep = contextLength - maxNew;
        if (ids.Count > keep) ids = ids.GetRange(ids.Count - keep, keep);
        string? stopped = null;
        Func<IReadOnlyList<int>, bool>? stop = options.StopSequences.Count == 0 ? null : generated =>
        {
            string text = tokenizer.Decode(generated);
            foreach (string s in options.StopSequences)
            {
                int at = text.IndexOf(s, StringComparison.Ordinal);
                if (at >= 0)
                {
                    stopped = text[..at];
                    return true;
                }
            }
            return false;
        };
        int[] output = GenerateIds(runner, ids, maxNew, Sampler(options), options.StopAtEndOfText ? tokenizer.EndOfTextId : null, stop);
        return stopped ?? tokenizer.Decode(output);
    }

    /// <summary>The sampler <paramref name="options"/> describe.</summary>
    public static TokenSampler Sampler(GenerationOptions options) => new(options.Temperature, options.TopK, options.TopP, options.Seed);
}
