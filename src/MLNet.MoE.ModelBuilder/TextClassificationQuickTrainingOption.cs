namespace MLNet.MoE;

/// <summary>The <c>QuickTrainingOption</c> of a text-classification <c>.mbconfig</c>: fewer rows and fewer epochs.</summary>
public sealed record TextClassificationQuickTrainingOption : ModelBuilderQuickTrainingOption
{
    /// <summary>The reduced run's passes over the training rows.</summary>
    public required int Epochs { get; init; }
}
