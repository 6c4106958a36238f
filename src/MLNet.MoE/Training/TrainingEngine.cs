using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The training engine under both trainers. It owns the optimizer (<see cref="FlatAdamW"/>, fused or managed), the
/// learning-rate schedule and the device meters, and takes one optimizer step at a time: the caller's micro-batches run
/// their forward passes in <see cref="ForwardContext"/>s of the run's precision, recomputation, routing and kernels and
/// return their losses with the routing statistics of the pass; their gradients accumulate; then, without a host synchronisation, the global gradient norm is taken, a step whose loss or
/// norm is not finite is masked out (no update of weights, moments, routing biases or sums) and counted, the gradient is
/// clipped, AdamW updates the weights and DeepSeek-V3's routing-bias update moves every MoE layer's biases by the step's
/// expert loads. The caller opens a TorchSharp dispose scope around each <see cref="Step"/>.
/// </summary>
internal sealed class TrainingEngine : IDisposable
{
    private readonly TrainingEngineSettings settings;
    private readonly Device device;
    private readonly List<(int Layer, MoeFeedForward Moe)> moeLayers;
    private readonly long routedExperts;
    private readonly LearningRateSchedule schedule;
    private readonly LoraAdapters? adapters;

    /// <summary>
    /// Creates the optimizer over <paramref name="groups"/> (parameters already on <paramref name="device"/>) for a run
    /// of <paramref name="settings"/>; <paramref name="moeLayers"/> are the MoE layers whose routing biases follow the loads;
    /// <paramref name="adapters"/>, when given, go into every forward context (the groups then hold their factors).
    /// </summary>
    public TrainingEngine(TrainingEngineSettings settings, IReadOnlyList<OptimizerGroup> groups, IEnumerable<(int Layer, MoeFeedForward Moe)> moeLayers, long routedExperts, Device device, LoraAdapters? adapters = null)
    {
        this.adapters = adapters;
        this.settings = settings;
        this.device = device;
        this.moeLayers = moeLayers.ToList();
        this.routedExperts = routedExperts;
        var optimizer = settings.Optimizer;
        schedule = new LearningRateSchedule(optimizer.LearningRate, optimizer.MinLearningRateRatio, optimizer.WarmupSteps, settings.Steps);
        Optimizer = new FlatAdamW(groups, optimizer.Beta1, optimizer.Beta2, TrainingNumerics.AdamEpsilon, device, settings.Kernels);
        Meters = new TrainingMeters(this.moeLayers.Select(m => m.Layer), routedExperts, device);
    }

    /// <summary>The optimizer (its state goes into checkpoints).</summary>
    public FlatAdamW Optimizer { get; }

    /// <summary>The run's device-side sums.</summary>
    public TrainingMeters Meters { get; }

    /// <summary>A training forward context of the run's precision, recomputation, routing and kernels.</summary>
    public ForwardContext NewContext() => new()
    {
        Training = true,
        ComputeType = settings.ComputeType,
        CapacityFactor = settings.Routing.CapacityFactor,
        BalanceLossWeight = settings.Routing.BalanceLossWeight,
        RecomputeActivations = settings.RecomputeActivations,
        LastBlocksNotRecomputed = settings.LastBlocksNotRecomputed,
        Kernels = settings.Kernels,
        Adapters = adapters,
    };

    /// <summary>
    /// Takes optimizer step <paramref name="step"/> (1-based) over <paramref name="microBatches"/> micro-batches, each
    /// run by <paramref name="forward"/> (micro-batch index, its context) and differentiated here.
    /// </summary>
    public StepOutcome Step(int step, int microBatches, Func<int, ForwardContext, MicroBatchLoss> forward)
    {
        double learningRate = schedule.At(step);
        Optimizer.ZeroGrad();
        var stepLoad = moeLayers.ToDictionary(m => m.Layer, _ => torch.zeros(routedExperts, dtype: ScalarType.Float32, device: device));
        var stepLoss = torch.zeros(1, dtype: ScalarType.Float64, device: device);
        var stepDropped = torch.zeros(1, dtype: ScalarType.Float64, device: device);
        long stepAssignments = 0;
        for (int micro = 0; micro < microBatches; micro++)
        {
            using var context = NewContext();
            var loss = forward(micro, context);
            (loss.Objective / loss.Divisor).backward();
            using (torch.no_grad())
            {
                stepLoss.add_(loss.Reported.detach().to(ScalarType.Float64));
                foreach (var routed in loss.Routing.Layers)
                {
                    if (stepLoad.TryGetValue(routed.Layer, out var sum)) sum.add_(routed.Load.to(ScalarType.Float32));
                    stepDropped.add_(routed.Dropped.to(ScalarType.Float64));
                    stepAssignments += routed.Assignments;
                }
            }
        }
        using (torch.no_grad())
        {
            var norm = Optimizer.GradientNorm();
            var applied = norm.isfinite().logical_and(stepLoss.isfinite()).to(ScalarType.Float32).reshape(1);
            double clip = settings.Optimizer.GradientClipNorm;
            var scale = clip > 0
                ? (clip / (norm + TrainingNumerics.ClipNormEpsilon)).clamp_max(1.0).nan_to_num(0, 0, 0)
                : torch.ones(1, device: device);
            Optimizer.Step(learningRate, scale, applied);
            Meters.Add(applied, stepLoss, microBatches, stepDropped, stepAssignments, stepLoad);
            foreach (var (layer, moe) in moeLayers) moe.Router.UpdateCorrectionBias(stepLoad[layer], settings.Routing.BiasUpdateRate, applied);
            return new StepOutcome(learningRate, applied, stepLoss);
        }
    }

    /// <summary>
    /// At a report (<paramref name="reportNow"/>) and every <see cref="TrainingEngineSettings.MaxConsecutiveSkippedSteps"/>
    /// steps, reads the skipped-step counts and throws when that many steps in a row were skipped, naming
    /// <paramref name="lastCheckpoint"/> or the option (<paramref name="checkpointOption"/>) that writes checkpoints.
    /// Returns the run's skipped steps when it read them, else null.
    /// </summary>
    public int? CheckSkippedSteps(int step, bool reportNow, string? lastCheckpoint, string checkpointOption)
    {
        if (!reportNow && step % settings.MaxConsecutiveSkippedSteps != 0) return null;
        var (skipped, consecutive) = Meters.SkippedSteps();
        if (consecutive >= settings.MaxConsecutiveSkippedSteps)
        {
            throw new InvalidOperationException(
                $"Training stopped at step {step}: the last {consecutive} steps in a row had a non-finite loss or gradient and were skipped ({skipped} skipped in all). " +
                (lastCheckpoint != null ? $"The last good checkpoint is '{lastCheckpoint}'." : $"No checkpoint was written (set {checkpointOption} and CheckpointEverySteps).") +
                " Lower the learning rate or check the data.");
        }
        return skipped;
    }

    /// <summary>Frees the optimizer and the meters.</summary>
    public void Dispose()
    {
        Optimizer.Dispose();
        Meters.Dispose();
    }
}
