namespace MLNet.MoE;

/// <summary>What a finished training run measured.</summary>
public sealed record LanguageModelTrainingSummary
{
    /// <summary>Optimizer steps run.</summary>
    public int Steps { get; init; }

    /// <summary>Training tokens seen.</summary>
    public long TrainingTokens { get; init; }

    /// <summary>Tokens in the training stream / validation stream.</summary>
    public long TrainingStreamTokens { get; init; }

    /// <summary>Tokens in the validation stream (0 without validation).</summary>
    public long ValidationStreamTokens { get; init; }

    /// <summary>Rows skipped because their text was empty or missing.</summary>
    public long SkippedEmptyRows { get; init; }

    /// <summary>Steps skipped because the loss or a gradient was not finite.</summary>
    public int SkippedSteps { get; init; }

    /// <summary>Mean training cross-entropy of the last report window.</summary>
    public double FinalTrainingLoss { get; init; }

    /// <summary>Validation cross-entropy (nats/token) after training, or NaN without validation data.</summary>
    public double ValidationLoss { get; init; } = double.NaN;

    /// <summary>exp(<see cref="ValidationLoss"/>).</summary>
    public double ValidationPerplexity => Math.Exp(ValidationLoss);

    /// <summary>
    /// The path each operation with a fused kernel took and how the routed experts computed, e.g.
    /// <c>RmsNorm=Fused, SwiGlu=Fused, LinearCrossEntropy=Fused, AdamW=Fused, Experts=GroupedGemm</c>.
    /// </summary>
    public string Kernels { get; init; } = "";

    /// <summary>Every progress report, in order (the loss curve).</summary>
    public IReadOnlyList<LanguageModelProgress> History { get; init; } = Array.Empty<LanguageModelProgress>();
}
