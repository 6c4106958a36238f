namespace MLNet.MoE;

/// <summary>A progress report of the language-model trainer.</summary>
public sealed record LanguageModelProgress
{
    /// <summary>Optimizer steps done.</summary>
    public int Step { get; init; }

    /// <summary>Optimizer steps planned.</summary>
    public int TotalSteps { get; init; }

    /// <summary>Mean next-token cross-entropy (nats) of the training batches since the last report.</summary>
    public double Loss { get; init; }

    /// <summary>Learning rate of the last step.</summary>
    public double LearningRate { get; init; }

    /// <summary>Training tokens per second since the last report.</summary>
    public double TokensPerSecond { get; init; }

    /// <summary>Validation cross-entropy (nats/token), when measured at this report; else null.</summary>
    public double? ValidationLoss { get; init; }

    /// <summary>Per MoE layer: the most loaded expert's share relative to the mean (1 = perfectly balanced) since the last report.</summary>
    public IReadOnlyDictionary<int, double> ExpertLoadMaxOverMean { get; init; } = new Dictionary<int, double>();

    /// <summary>Per MoE layer: each routed expert's share of that layer's token-expert assignments since the last report
    /// (index = expert; the shares sum to 1, and max/mean of them is <see cref="ExpertLoadMaxOverMean"/>). Empty arrays mean no assignments.</summary>
    public IReadOnlyDictionary<int, double[]> ExpertLoadShares { get; init; } = new Dictionary<int, double[]>();

    /// <summary>Fraction of token-expert assignments dropped for capacity since the last report (all MoE layers).</summary>
    public double DroppedFraction { get; init; }

    /// <summary>Steps skipped so far because the loss or a gradient was not finite.</summary>
    public int SkippedSteps { get; init; }

    /// <summary>The checkpoint written at this step, if any.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Time since training started.</summary>
    public TimeSpan Elapsed { get; init; }
}
