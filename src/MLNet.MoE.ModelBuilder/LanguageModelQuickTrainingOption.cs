namespace MLNet.MoE;

/// <summary>The <c>QuickTrainingOption</c> of a language-modeling <c>.mbconfig</c>: fewer rows and fewer optimizer steps.</summary>
public sealed record LanguageModelQuickTrainingOption : ModelBuilderQuickTrainingOption
{
    /// <summary>The reduced run's optimizer steps.</summary>
    public required int MaxSteps { get; init; }
}
