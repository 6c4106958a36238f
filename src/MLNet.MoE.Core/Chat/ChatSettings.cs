using Microsoft.Extensions.AI;

namespace MLNet.MoE;

/// <summary>
/// The sampling settings of one chat request: a <see cref="ChatOptions"/> value where it sets one, else the
/// transformer's <see cref="GenerationOptions"/>. Options the language model cannot honour are refused, not ignored.
/// </summary>
/// <param name="MaxOutputTokens">Most tokens of the answer (before the context's room cuts it).</param>
/// <param name="Temperature">0 for greedy decoding.</param>
/// <param name="TopK">0 for no top-k filter.</param>
/// <param name="TopP">1 for no nucleus filter.</param>
/// <param name="Seed">The sampler's seed.</param>
/// <param name="StopSequences">Texts that end the answer, which does not include them.</param>
internal sealed record ChatSettings(int MaxOutputTokens, double Temperature, int TopK, double TopP, int Seed, IReadOnlyList<string> StopSequences)
{
    /// <summary>The sampler these settings describe.</summary>
    public TokenSampler Sampler() => new(Temperature, TopK, TopP, Seed);

    /// <summary>The settings of a request with <paramref name="options"/> over the transformer's <paramref name="defaults"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value out of its range, naming the ChatOptions property.</exception>
    /// <exception cref="NotSupportedException">Tools, a JSON response format, frequency or presence penalties, or a conversation id.</exception>
    public static ChatSettings From(ChatOptions? options, GenerationOptions defaults)
    {
        if (options is null) return new ChatSettings(defaults.MaxNewTokens, defaults.Temperature, defaults.TopK, defaults.TopP, defaults.Seed, defaults.StopSequences);
        RefuseUnsupported(options);
        int maxOutputTokens = options.MaxOutputTokens ?? defaults.MaxNewTokens;
        if (maxOutputTokens < 1) throw OutOfRange(nameof(ChatOptions.MaxOutputTokens), maxOutputTokens, "must be at least 1");
        double temperature = options.Temperature ?? defaults.Temperature;
        // Above about 100 every token is equally likely (as GenerationOptions.Validate says).
        if (!(temperature >= 0 && temperature <= 100)) throw OutOfRange(nameof(ChatOptions.Temperature), temperature, "must be 0 (greedy) or positive, at most 100");
        int topK = options.TopK ?? defaults.TopK;
        if (topK < 0) throw OutOfRange(nameof(ChatOptions.TopK), topK, "must be 0 (off) or positive");
        double topP = options.TopP ?? defaults.TopP;
        if (!(topP > 0 && topP <= 1)) throw OutOfRange(nameof(ChatOptions.TopP), topP, "must be in (0, 1]");
        long seed = options.Seed ?? defaults.Seed;
        if (seed < int.MinValue || seed > int.MaxValue) throw OutOfRange(nameof(ChatOptions.Seed), seed, "must fit in an Int32 (the sampler's seed)");
        IReadOnlyList<string> stops = options.StopSequences?.ToArray() ?? defaults.StopSequences;
        if (stops.Any(string.IsNullOrEmpty)) throw OutOfRange(nameof(ChatOptions.StopSequences), null, "must not hold null or empty strings");
        return new ChatSettings(maxOutputTokens, temperature, topK, topP, (int)seed, stops);
    }

    private static void RefuseUnsupported(ChatOptions options)
    {
        if (options.Tools is { Count: > 0 })
            throw new NotSupportedException($"ChatOptions.Tools holds {options.Tools.Count} tool(s); the MLNet.MoE chat client does not call tools.");
        if (options.ResponseFormat is ChatResponseFormatJson)
            throw new NotSupportedException("ChatOptions.ResponseFormat asks for JSON; the MLNet.MoE chat client does not constrain its output to JSON.");
        if (options.FrequencyPenalty is { } frequency && frequency != 0)
            throw new NotSupportedException("ChatOptions.FrequencyPenalty is set; the MLNet.MoE chat client's sampler has no frequency penalty.");
        if (options.PresencePenalty is { } presence && presence != 0)
            throw new NotSupportedException("ChatOptions.PresencePenalty is set; the MLNet.MoE chat client's sampler has no presence penalty.");
        if (options.ConversationId is not null)
            throw new NotSupportedException("ChatOptions.ConversationId is set; the MLNet.MoE chat client keeps no conversations: pass the whole history as messages.");
    }

    private static ArgumentOutOfRangeException OutOfRange(string property, object? value, string rule) =>
        new("options", value, $"ChatOptions.{property} {rule}.");
}
