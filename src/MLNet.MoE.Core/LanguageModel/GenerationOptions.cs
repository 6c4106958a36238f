namespace MLNet.MoE;

/// <summary>How text is generated from a prompt.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (1 to the model's context length − 1). Default 64.</summary>
    public int MaxNewTokens { get; init; } = 64;

    /// <summary>Sampling temperature; 0 means greedy decoding (always the most likely token). Default 0.</summary>
    public double Temperature { get; init; }

    /// <summary>Sample only among the K most likely tokens; 0 turns the filter off. Default 0.</summary>
    public int TopK { get; init; }

    /// <summary>Sample only among the most likely tokens whose probabilities sum to P (nucleus sampling); 1 turns it off. Default 1.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Generation stops once the text ends with one of these; the stop text is not included in the output.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = Array.Empty<string>();

    /// <summary>Seed of the sampler; the same seed, prompt and model give the same text. Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Whether generation also stops at the tokenizer's end-of-text token. Default true.</summary>
    public bool StopAtEndOfText { get; init; } = true;

    /// <summary>Checks ranges; throws <see cref="ArgumentOutOfRangeException"/> naming the option.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 1 || MaxNewTokens > 1 << 20) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "GenerationOptions.MaxNewTokens must be between 1 and 1,048,576.");
        // Above about 100 every token is equally likely: a larger or infinite temperature is a mistake, not a setting.
        if (!(Temperature >= 0 && Temperature <= 100)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "GenerationOptions.Temperature must be 0 (greedy) or positive, at most 100.");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "GenerationOptions.TopK must be 0 (off) or positive.");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "GenerationOptions.TopP must be in (0, 1].");
        if (StopSequences.Any(string.IsNullOrEmpty)) throw new ArgumentOutOfRangeException(nameof(StopSequences), "GenerationOptions.StopSequences must not contain empty strings.");
    }
}
