using TorchSharp.Modules;

namespace MLNet.MoE;

/// <summary>Parameters that <see cref="FlatAdamW"/> updates with one weight decay and one learning-rate scale.</summary>
/// <param name="Parameters">The parameters.</param>
/// <param name="WeightDecay">Decoupled weight decay (0 for norms and biases).</param>
/// <param name="LearningRateScale">Multiplies the schedule's learning rate for this group (1: unchanged).</param>
internal sealed record OptimizerGroup(IReadOnlyList<Parameter> Parameters, double WeightDecay, double LearningRateScale = 1.0)
{
    /// <summary>
    /// The two groups of parameters split for weight decay: <paramref name="decay"/> with <paramref name="weightDecay"/>,
    /// then <paramref name="noDecay"/> with none, both at <paramref name="learningRateScale"/>.
    /// </summary>
    public static OptimizerGroup[] ForWeightDecay(IReadOnlyList<Parameter> decay, IReadOnlyList<Parameter> noDecay, double weightDecay, double learningRateScale = 1.0) =>
        new[] { new OptimizerGroup(decay, weightDecay, learningRateScale), new OptimizerGroup(noDecay, 0.0, learningRateScale) };
}
