namespace MLNet.MoE;

/// <summary>
/// The optimizer of a training run: the learning-rate schedule (linear warm-up, then cosine decay), AdamW and
/// global gradient-norm clipping. The defaults are those of the language-model trainer; the classifier trainer
/// passes its own values from <c>MoeTextClassificationOptions</c>.
/// </summary>
internal sealed record OptimizerSettings
{
    /// <summary>Peak learning rate.</summary>
    public required double LearningRate { get; init; }

    /// <summary>Final learning rate as a fraction of the peak. Default 0.1.</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    /// <summary>Warm-up steps. Default 0.</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Decoupled weight decay. Default 0.1.</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>AdamW β1. Default 0.9.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β2. Default 0.95.</summary>
    public double Beta2 { get; init; } = 0.95;

    /// <summary>Global gradient-norm clip (0: off). Default 1.</summary>
    public double GradientClipNorm { get; init; } = 1.0;
}
