using System.Diagnostics.CodeAnalysis;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The settings every training run shares, whatever it trains: steps, batch and accumulation, optimizer, routing,
/// precision, recomputation, kernels, checkpoints and the non-finite guard. <see cref="LanguageModelTrainingSettings"/> and
/// <see cref="TextClassificationTrainingSettings"/> add their task's own.
/// </summary>
internal abstract record TrainingEngineSettings
{
    /// <summary>Settings given member by member (tests, benchmarks, the classifier's language-model adaptation).</summary>
    protected TrainingEngineSettings()
    {
    }

    /// <summary>
    /// The one mapping of the options every trainer shares (<see cref="MoeTrainerOptions"/>) to a run's settings: batch and
    /// accumulation, optimizer, routing, recomputation, report cadence, checkpoint cadence and retention, the non-finite
    /// guard; with the run's <paramref name="steps"/>, <paramref name="seed"/>, <paramref name="computeType"/> and
    /// <paramref name="kernels"/>. The task's own settings (checkpoint folder, resume file, its options) are set by the
    /// derived record.
    /// </summary>
    [SetsRequiredMembers]
    protected TrainingEngineSettings(MoeTrainerOptions options, int steps, int seed, ScalarType computeType, KernelSet kernels)
    {
        BatchSize = options.BatchSize;
        GradientAccumulationSteps = options.GradientAccumulationSteps;
        Steps = steps;
        Optimizer = options.ToOptimizerSettings();
        Seed = seed;
        Routing = options.ToRoutingSettings();
        RecomputeActivations = options.RecomputeActivations;
        LastBlocksNotRecomputed = options.LastBlocksNotRecomputed;
        LogEverySteps = options.LogEverySteps;
        ComputeType = computeType;
        Kernels = kernels;
        CheckpointEverySteps = options.CheckpointEverySteps;
        KeepCheckpoints = options.KeepCheckpoints;
        MaxConsecutiveSkippedSteps = options.MaxConsecutiveSkippedSteps;
    }

    /// <summary>Examples per optimizer step (windows for the language model, rows for the classifier), over all micro-batches.</summary>
    public required int BatchSize { get; init; }

    /// <summary>Micro-batches per step whose gradients are summed before the update. Default 1.</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Optimizer steps.</summary>
    public required int Steps { get; init; }

    /// <summary>Learning-rate schedule, AdamW and gradient clipping.</summary>
    public required OptimizerSettings Optimizer { get; init; }

    /// <summary>Seed of the batch order.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>MoE routing during training: capacity, routing-bias update and balance loss.</summary>
    public MoeRoutingSettings Routing { get; init; } = new();

    /// <summary>Recompute each block's activations in the backward pass (less memory, about one more forward pass).</summary>
    public bool RecomputeActivations { get; init; }

    /// <summary>With <see cref="RecomputeActivations"/>, how many of the last decoder blocks keep their activations instead (see <see cref="ForwardContext.LastBlocksNotRecomputed"/>).</summary>
    public int LastBlocksNotRecomputed { get; init; }

    /// <summary>Report every this many steps.</summary>
    public int LogEverySteps { get; init; } = 10;

    /// <summary>Dtype of activations: Float32, or BFloat16 (parameters and optimizer state stay float32).</summary>
    public ScalarType ComputeType { get; init; } = ScalarType.Float32;

    /// <summary>Folder of training checkpoints, or null for none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Write a checkpoint every this many steps, and at the last step (0: never).</summary>
    public int CheckpointEverySteps { get; init; }

    /// <summary>Checkpoints to keep; older ones are deleted.</summary>
    public int KeepCheckpoints { get; init; } = 3;

    /// <summary>A checkpoint file to continue from, or null to start fresh.</summary>
    public string? ResumeFrom { get; init; }

    /// <summary>Skipped (non-finite) steps in a row after which training stops with an exception.</summary>
    public int MaxConsecutiveSkippedSteps { get; init; } = 5;

    /// <summary>Fused kernels or managed code per operation, and how the routed experts compute (from the start-up probe). Default: all managed, capacity-padded experts.</summary>
    public KernelSet Kernels { get; init; } = KernelSet.Managed;
}
