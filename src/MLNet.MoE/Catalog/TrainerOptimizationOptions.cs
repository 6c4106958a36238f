using MLNet.MoE.Training;

namespace MLNet.MoE.Catalog;

/// <summary>
/// The optimizer and routing options that <see cref="LanguageModelOptions"/> and
/// <see cref="MoeTextClassificationOptions"/> share under the same names (their defaults differ).
/// </summary>
internal interface ITrainerOptimizationOptions
{
    double LearningRate { get; }
    double MinLearningRateRatio { get; }
    int WarmupSteps { get; }
    double WeightDecay { get; }
    double Beta1 { get; }
    double Beta2 { get; }
    double GradientClipNorm { get; }
    double CapacityFactor { get; }
    double BiasUpdateRate { get; }
    double BalanceLossWeight { get; }
}

/// <summary>Turns a trainer's options into the settings records the training loops take.</summary>
internal static class TrainerOptimizationOptions
{
    /// <summary>The learning-rate schedule, AdamW and clipping options.</summary>
    public static OptimizerSettings ToOptimizerSettings(this ITrainerOptimizationOptions options) => new()
    {
        LearningRate = options.LearningRate,
        MinLearningRateRatio = options.MinLearningRateRatio,
        WarmupSteps = options.WarmupSteps,
        WeightDecay = options.WeightDecay,
        Beta1 = options.Beta1,
        Beta2 = options.Beta2,
        GradientClipNorm = options.GradientClipNorm,
    };

    /// <summary>The MoE routing options of training.</summary>
    public static MoeRoutingSettings ToRoutingSettings(this ITrainerOptimizationOptions options) => new()
    {
        CapacityFactor = options.CapacityFactor,
        BiasUpdateRate = options.BiasUpdateRate,
        BalanceLossWeight = options.BalanceLossWeight,
    };
}
