namespace MLNet.MoE;

/// <summary>What a finished text-classifier training run measured.</summary>
public sealed record TextClassificationTrainingSummary
{
    /// <summary>Optimizer steps run.</summary>
    public int Steps { get; init; }

    /// <summary>Rows trained on / held out for validation.</summary>
    public int TrainingRows { get; init; }

    /// <summary>Rows held out for validation (0 without validation).</summary>
    public int ValidationRows { get; init; }

    /// <summary>Rows skipped because their label was missing.</summary>
    public long SkippedRows { get; init; }

    /// <summary>The step whose weights were kept (the best validation loss; the last step without validation); 0 for an ensemble, whose members each keep their own (<see cref="Members"/>).</summary>
    public int KeptStep { get; init; }

    /// <summary>Validation cross-entropy of the kept weights, or NaN without validation.</summary>
    public double ValidationLoss { get; init; } = double.NaN;

    /// <summary>Validation accuracy of the kept weights, or NaN without validation.</summary>
    public double ValidationAccuracy { get; init; } = double.NaN;

    /// <summary>True when the validation loss stopped improving for the patience and training ended before the planned steps.</summary>
    public bool StoppedEarly { get; init; }

    /// <summary>The path each operation with a fused kernel took and how the routed experts computed (see <see cref="LanguageModelTrainingSummary.Kernels"/>).</summary>
    public string Kernels { get; init; } = "";

    /// <summary>
    /// For an ensemble (<c>EnsembleSize</c> above 1), each member's own summary, in order; empty for a single classifier.
    /// The ensemble's summary counts every member's steps and reports the ensemble's validation loss and accuracy (the
    /// members' probabilities averaged).
    /// </summary>
    public IReadOnlyList<TextClassificationTrainingSummary> Members { get; init; } = Array.Empty<TextClassificationTrainingSummary>();

    /// <summary>Every progress report, in order (an ensemble's members one after another).</summary>
    public IReadOnlyList<TextClassificationProgress> History { get; init; } = Array.Empty<TextClassificationProgress>();
}
