using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Turns a trainer's options (<see cref="MoeTrainerOptions"/>) into the settings records the training loops take.</summary>
internal static class TrainerOptimizationOptions
{
    /// <summary>The learning-rate schedule, AdamW and clipping options.</summary>
    public static OptimizerSettings ToOptimizerSettings(this MoeTrainerOptions options) => new()
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
    public static MoeRoutingSettings ToRoutingSettings(this MoeTrainerOptions options) => new()
    {
        CapacityFactor = options.CapacityFactor,
        BiasUpdateRate = options.BiasUpdateRate,
        BalanceLossWeight = options.BalanceLossWeight,
    };

    /// <summary>The dtype activations are computed in on <paramref name="device"/>: bfloat16 for BFloat16, and for Auto on CUDA; else float32.</summary>
    public static ScalarType ComputeType(this MoeTrainerOptions options, Device device) =>
        options.Precision == TrainingPrecision.BFloat16 || options.Precision == TrainingPrecision.Auto && device.type == TorchSharp.DeviceType.CUDA
            ? ScalarType.BFloat16
            : ScalarType.Float32;

    /// <summary>
    /// Probes the fused kernels on <paramref name="device"/> in <paramref name="computeType"/> and returns the kernels the
    /// run uses; logs one warning listing the kernels that fell back to the managed code (if any) and one line with
    /// every operation's path. Throws, naming the option, when <c>Kernels</c> is Fused or <c>ExpertDispatch</c> is
    /// Dropless and that cannot be honoured. <paramref name="kernels"/> replaces the process's compiled kernels (tests).
    /// </summary>
    public static KernelSet SelectKernels(this MoeTrainerOptions options, Device device, ScalarType computeType, IChannel channel, TorchScriptKernels? kernels = null)
    {
        string optionsName = options.GetType().Name;
        var selection = KernelSelection.Select(options.Kernels, options.ExpertDispatch, device, computeType, optionsName, kernels);
        if (selection.Fallbacks.Count > 0)
        {
            bool experts = selection.Fallbacks.ContainsKey(KernelOp.GroupedMm);
            channel.Warning($"{optionsName}.Kernels is Auto and {selection.Fallbacks.Count} fused kernel{(selection.Fallbacks.Count == 1 ? "" : "s")} failed the start-up check on {device}, " +
                $"so {(selection.Fallbacks.Count == 1 ? "its operation runs" : "their operations run")} the managed code (same results, slower){(experts ? " and the routed experts are capacity-padded" : "")}: " +
                string.Join("; ", selection.Fallbacks.Select(f => $"{f.Key}: {f.Value}")) + ".");
        }
        channel.Info($"Kernels on {device}: {selection.Kernels}.");
        return selection.Kernels;
    }
}
