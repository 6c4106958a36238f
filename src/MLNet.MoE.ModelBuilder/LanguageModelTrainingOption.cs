namespace MLNet.MoE;

/// <summary>
/// The <c>TrainingOption</c> of a language-modeling <c>.mbconfig</c>: the options of the <c>LanguageModel</c> trainer
/// (see <c>LanguageModelOptions</c>) and of its text generation (<c>GenerationOptions</c>) besides those every scenario has.
/// </summary>
public sealed record LanguageModelTrainingOption : ModelBuilderTrainingOption
{
    /// <summary>Optimizer steps.</summary>
    public required int MaxSteps { get; init; }

    /// <summary>Tokens per training sequence (and the scoring window).</summary>
    public required int ContextLength { get; init; }

    /// <summary>Tokens that <c>GeneratedText</c> adds at most.</summary>
    public required int MaxNewTokens { get; init; }

    /// <summary>Sampling temperature (0: the most likely token each time).</summary>
    public required double Temperature { get; init; }

    /// <summary>Sample among the K most likely tokens (0: all).</summary>
    public required int TopK { get; init; }
}
