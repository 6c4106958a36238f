namespace MLNet.MoE;

/// <summary>One progress report of a text-classifier training run.</summary>
public sealed record TextClassificationProgress
{
    /// <summary>The ensemble member (1-based) being trained when <c>EnsembleSize</c> is above 1; 1 otherwise.</summary>
    public int Member { get; init; } = 1;

    /// <summary>Optimizer steps done (by this member).</summary>
    public int Step { get; init; }

    /// <summary>Optimizer steps planned (training may stop earlier).</summary>
    public int TotalSteps { get; init; }

    /// <summary>Epoch (1-based) the step belongs to.</summary>
    public int Epoch { get; init; }

    /// <summary>Mean training cross-entropy since the previous report.</summary>
    public double Loss { get; init; }

    /// <summary>Learning rate of the last step.</summary>
    public double LearningRate { get; init; }

    /// <summary>Training rows per second since the previous report.</summary>
    public double RowsPerSecond { get; init; }

    /// <summary>Validation cross-entropy when this report follows an evaluation, else null.</summary>
    public double? ValidationLoss { get; init; }

    /// <summary>Validation accuracy when this report follows an evaluation, else null.</summary>
    public double? ValidationAccuracy { get; init; }

    /// <summary>The training checkpoint written at this step, else null.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Time since training started.</summary>
    public TimeSpan Elapsed { get; init; }
}
