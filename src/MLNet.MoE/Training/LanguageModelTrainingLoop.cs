using System.Diagnostics;
using MLNet.MoE.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE.Training;

/// <summary>Settings of one training run (a plain copy of the trainer options that matter to the loop).</summary>
public sealed record TrainingLoopSettings
{
    /// <summary>Tokens per window.</summary>
    public required int ContextLength { get; init; }

    /// <summary>Windows per optimizer step.</summary>
    public required int BatchSize { get; init; }

    /// <summary>Micro-batches per step.</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Optimizer steps.</summary>
    public required int Steps { get; init; }

    /// <summary>Learning-rate schedule, AdamW and gradient clipping.</summary>
    public required OptimizerSettings Optimizer { get; init; }

    /// <summary>Seed of the window sampler.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>MoE routing during training: capacity, routing-bias update and balance loss.</summary>
    public MoeRoutingSettings Routing { get; init; } = new();

    /// <summary>Recompute each block's activations in the backward pass (less memory, about one more forward pass).</summary>
    public bool RecomputeActivations { get; init; }

    /// <summary>λ of the MTP loss.</summary>
    public double MultiTokenPredictionWeight { get; init; } = 0.3;

    /// <summary>Report every this many steps.</summary>
    public int LogEverySteps { get; init; } = 10;

    /// <summary>Dtype of activations: Float32, or BFloat16 (parameters and optimizer state stay float32).</summary>
    public ScalarType ComputeType { get; init; } = ScalarType.Float32;

    /// <summary>Folder of training checkpoints, or null for none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Write a checkpoint every this many steps (0: never).</summary>
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

/// <summary>
/// Trains a <see cref="MoeCausalLM"/> on a packed token stream: AdamW with decoupled weight decay (none on norms and
/// biases), warm-up + cosine decay, gradient accumulation, global-norm clipping computed on the device, DeepSeek-V3's
/// routing-bias update after every step, optional bfloat16 activations over float32 weights, progress reports,
/// periodic atomic checkpoints that a later run resumes exactly, and a guard that skips steps whose loss or gradient
/// is not finite. Every step runs in its own TorchSharp dispose scope, so the number of live tensors stays flat.
/// </summary>
public sealed class LanguageModelTrainingLoop
{
    private const string CheckpointPrefix = "checkpoint-step";

    private readonly MoeCausalLM model;
    private readonly TrainingLoopSettings settings;
    private readonly Device device;

    /// <summary>Creates the loop for a model already on <paramref name="device"/>.</summary>
    public LanguageModelTrainingLoop(MoeCausalLM model, TrainingLoopSettings settings, Device device)
    {
        this.model = model;
        this.settings = settings;
        this.device = device;
    }

    /// <summary>The newest checkpoint file in <paramref name="directory"/>, or null when it holds none.</summary>
    public static string? LatestCheckpoint(string directory) =>
        CheckpointFiles.Latest(directory, CheckpointPrefix);

    /// <summary>Runs the steps; <paramref name="report"/> receives each progress report; <paramref name="validation"/> is evaluated at the end.</summary>
    public TrainingSummary Run(int[] trainingStream, int[] validation, Action<TrainingProgress> report, CancellationToken cancellation = default)
    {
        int window = Math.Min(settings.ContextLength, trainingStream.Length - 1);
        if (window < 1) throw new ArgumentException("The training data holds fewer than two tokens.", nameof(trainingStream));
        var sampler = new WindowSampler(trainingStream, window, settings.Seed);
        var schedule = new LearningRateSchedule(settings.Optimizer.LearningRate, settings.Optimizer.MinLearningRateRatio, settings.Optimizer.WarmupSteps, settings.Steps);
        var (decay, noDecay) = model.ParameterGroupsForWeightDecay();
        using var optimizer = new FlatAdamW(decay, noDecay, settings.Optimizer.WeightDecay, settings.Optimizer.Beta1, settings.Optimizer.Beta2, 1e-8, device, settings.Kernels);
        var moeLayers = model.MoeLayers().ToList();
        int microBatch = settings.BatchSize / settings.GradientAccumulationSteps;
        var fingerprint = DataFingerprint.Of(trainingStream);

        // Report-window accumulators live outside the step scopes and are updated in place on the device.
        using var lossSum = torch.zeros(1, dtype: ScalarType.Float64, device: device);
        var loadSums = moeLayers.ToDictionary(m => m.Layer, m => torch.zeros(model.Config.NRoutedExperts, dtype: ScalarType.Float32, device: device));
        using var droppedSum = torch.zeros(1, dtype: ScalarType.Float64, device: device);
        // Counted on the device too, so a skipped step needs no host synchronisation.
        using var lossTermsT = torch.zeros(1, dtype: ScalarType.Float64, device: device);
        using var assignmentsT = torch.zeros(1, dtype: ScalarType.Float64, device: device);
        using var skippedT = torch.zeros(1, dtype: ScalarType.Float64, device: device);
        using var consecutiveT = torch.zeros(1, dtype: ScalarType.Float64, device: device);
        var counters = new TrainingCounters();
        var history = new List<TrainingProgress>();
        int firstStep = 1;
        string? lastCheckpoint = null;
        if (settings.ResumeFrom is { } resume)
        {
            var checkpoint = TrainingCheckpoint.Read(resume, model, optimizer);
            if (checkpoint.Data != fingerprint)
                throw new InvalidOperationException($"Training checkpoint '{resume}' was made on other training data ({checkpoint.Data.Length} tokens, hash {checkpoint.Data.Hash:x16}); this run has {fingerprint.Length} tokens, hash {fingerprint.Hash:x16}. Resume with the same data, seed and validation split.");
            if (checkpoint.Step >= settings.Steps)
                throw new InvalidOperationException($"Training checkpoint '{resume}' is at step {checkpoint.Step}; this run has only {settings.Steps} steps.");
            sampler.State = checkpoint.SamplerState;
            counters = checkpoint.Counters;
            history.AddRange(checkpoint.History);
            firstStep = checkpoint.Step + 1;
            lastCheckpoint = resume;
            lossSum.fill_(counters.LossSum);
            droppedSum.fill_(counters.DroppedSum);
            lossTermsT.fill_(counters.LossTerms);
            assignmentsT.fill_(counters.AssignmentsInWindow);
            skippedT.fill_(counters.SkippedSteps);
            consecutiveT.fill_(counters.ConsecutiveSkippedSteps);
            foreach (var (layer, sums) in counters.LoadSums)
            {
                if (loadSums.TryGetValue(layer, out var target)) target.copy_(torch.tensor(sums).to(device));
            }
        }
        long tokensInWindow = counters.TokensInWindow;
        long tokensSeen = counters.TokensSeen;
        int skippedSteps = counters.SkippedSteps;
        var clock = Stopwatch.StartNew();
        var windowClock = Stopwatch.StartNew();
        TimeSpan elapsedBefore = history.Count > 0 ? history[^1].Elapsed : TimeSpan.Zero;
        double lastLoss = history.Count > 0 ? history[^1].Loss : double.NaN;
        model.train();
        try
        {
            for (int step = firstStep; step <= settings.Steps; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                double lr = schedule.At(step);
                optimizer.ZeroGrad();
                var stepLoad = moeLayers.ToDictionary(m => m.Layer, m => torch.zeros(model.Config.NRoutedExperts, dtype: ScalarType.Float32, device: device));
                var stepLoss = torch.zeros(1, dtype: ScalarType.Float64, device: device);
                var stepDropped = torch.zeros(1, dtype: ScalarType.Float64, device: device);
                long stepAssignments = 0;
                for (int micro = 0; micro < settings.GradientAccumulationSteps; micro++)
                {
                    var (inputs, targets) = sampler.Next(microBatch, device);
                    using var context = new ForwardContext
                    {
                        Training = true,
                        ComputeType = settings.ComputeType,
                        CapacityFactor = settings.Routing.CapacityFactor,
                        BalanceLossWeight = settings.Routing.BalanceLossWeight,
                        RecomputeActivations = settings.RecomputeActivations,
                        Kernels = settings.Kernels,
                    };
                    var (total, crossEntropy) = model.Loss(inputs, targets, context, settings.MultiTokenPredictionWeight);
                    (total / settings.GradientAccumulationSteps).backward();
                    using (torch.no_grad())
                    {
                        stepLoss.add_(crossEntropy.detach().to(ScalarType.Float64));
                        foreach (var (layer, load) in context.ExpertLoad) stepLoad[layer].add_(load.to(ScalarType.Float32));
                        foreach (var dropped in context.DroppedAssignments.Values) stepDropped.add_(dropped.to(ScalarType.Float64));
                        stepAssignments += context.AssignmentsPerLayer * context.DroppedAssignments.Count;
                    }
                }
                // No host synchronisation: a step whose loss or gradient norm is not finite is masked out on the device
                // (no update of weights, moments, routing biases or statistics) and counted.
                using (torch.no_grad())
                {
                    var norm = optimizer.GradientNorm();
                    var good = norm.isfinite().logical_and(stepLoss.isfinite()).to(ScalarType.Float32).reshape(1);
                    var goodD = good.to(ScalarType.Float64);
                    var scale = settings.Optimizer.GradientClipNorm > 0
                        ? (settings.Optimizer.GradientClipNorm / (norm + 1e-6)).clamp_max(1.0).nan_to_num(0, 0, 0)
                        : torch.ones(1, device: device);
                    optimizer.Step(lr, scale, good);
                    lossSum.add_(stepLoss.nan_to_num(0, 0, 0) * goodD);
                    lossTermsT.add_(goodD * settings.GradientAccumulationSteps);
                    droppedSum.add_(stepDropped * goodD);
                    assignmentsT.add_(goodD * stepAssignments);
                    skippedT.add_(1 - goodD);
                    consecutiveT.add_(1).mul_(1 - goodD);
                    foreach (var (layer, moe) in moeLayers)
                    {
                        var load = stepLoad[layer];
                        loadSums[layer].add_(load * good);
                        moe.Router.UpdateCorrectionBias(load, settings.Routing.BiasUpdateRate, good);
                    }
                }
                bool reportNow = step % settings.LogEverySteps == 0 || step == settings.Steps;
                if (reportNow || step % settings.MaxConsecutiveSkippedSteps == 0)
                {
                    int consecutive = (int)consecutiveT.item<double>();
                    skippedSteps = (int)skippedT.item<double>();
                    if (consecutive >= settings.MaxConsecutiveSkippedSteps)
                    {
                        throw new InvalidOperationException(
                            $"Training stopped at step {step}: the last {consecutive} steps in a row had a non-finite loss or gradient and were skipped ({skippedSteps} skipped in all). " +
                            (lastCheckpoint != null ? $"The last good checkpoint is '{lastCheckpoint}'." : "No checkpoint was written (set CheckpointDirectory and CheckpointEverySteps).") +
                            " Lower the learning rate or check the data.");
                    }
                }
                long tokens = (long)settings.BatchSize * window;
                tokensInWindow += tokens;
                tokensSeen += tokens;
                TrainingProgress? progress = null;
                if (reportNow)
                {
                    double lossTerms = lossTermsT.item<double>();
                    long assignmentsInWindow = (long)assignmentsT.item<double>();
                    lastLoss = lossTerms > 0 ? lossSum.item<double>() / lossTerms : double.NaN;
                    var loadBalance = new Dictionary<int, double>();
                    var loadShares = new Dictionary<int, double[]>();
                    foreach (var (layer, sum) in loadSums)
                    {
                        float[] loads = sum.cpu().data<float>().ToArray();
                        double total = loads.Sum(l => (double)l);
                        double meanValue = total / loads.Length;
                        loadBalance[layer] = meanValue > 0 ? loads.Max() / meanValue : 0;
                        loadShares[layer] = total > 0 ? loads.Select(l => l / total).ToArray() : Array.Empty<double>();
                        sum.zero_();
                    }
                    double droppedFraction = assignmentsInWindow > 0 ? droppedSum.item<double>() / assignmentsInWindow : 0;
                    progress = new TrainingProgress
                    {
                        Step = step,
                        TotalSteps = settings.Steps,
                        Loss = lastLoss,
                        LearningRate = lr,
                        TokensPerSecond = tokensInWindow / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds),
                        ExpertLoadMaxOverMean = loadBalance,
                        ExpertLoadShares = loadShares,
                        DroppedFraction = droppedFraction,
                        SkippedSteps = skippedSteps,
                        Elapsed = elapsedBefore + clock.Elapsed,
                    };
                    history.Add(progress);
                    lossSum.zero_();
                    droppedSum.zero_();
                    lossTermsT.zero_();
                    assignmentsT.zero_();
                    tokensInWindow = 0;
                    windowClock.Restart();
                }
                if (settings.CheckpointDirectory != null && settings.CheckpointEverySteps > 0 && (step % settings.CheckpointEverySteps == 0 || step == settings.Steps))
                {
                    var checkpointCounters = new TrainingCounters
                    {
                        LossSum = lossSum.item<double>(),
                        LossTerms = (int)lossTermsT.item<double>(),
                        DroppedSum = droppedSum.item<double>(),
                        AssignmentsInWindow = (long)assignmentsT.item<double>(),
                        TokensInWindow = tokensInWindow,
                        TokensSeen = tokensSeen,
                        SkippedSteps = (int)skippedT.item<double>(),
                        ConsecutiveSkippedSteps = (int)consecutiveT.item<double>(),
                        LoadSums = loadSums.ToDictionary(kv => kv.Key, kv => kv.Value.cpu().data<float>().ToArray()),
                    };
                    lastCheckpoint = WriteCheckpoint(step, sampler.State, checkpointCounters, history, optimizer, fingerprint);
                    if (progress != null)
                    {
                        progress = progress with { CheckpointPath = lastCheckpoint };
                        history[^1] = progress;
                    }
                }
                if (progress != null) report(progress);
            }
        }
        finally
        {
            foreach (var sum in loadSums.Values) sum.Dispose();
            model.eval();
        }
        var (validationLoss, _) = StreamEvaluator.Evaluate(model, validation, settings.ContextLength, settings.BatchSize, device);
        if (!double.IsNaN(validationLoss) && history.Count > 0)
        {
            var last = history[^1] with { ValidationLoss = validationLoss };
            history[^1] = last;
            report(last);
        }
        return new TrainingSummary
        {
            Steps = settings.Steps,
            TrainingTokens = tokensSeen,
            TrainingStreamTokens = trainingStream.Length,
            ValidationStreamTokens = validation.Length,
            FinalTrainingLoss = lastLoss,
            ValidationLoss = validationLoss,
            SkippedSteps = skippedSteps,
            Kernels = settings.Kernels.ToString(),
            History = history,
        };
    }

    private string WriteCheckpoint(int step, ulong samplerState, TrainingCounters counters, List<TrainingProgress> history, FlatAdamW optimizer, DataFingerprint fingerprint)
    {
        string directory = settings.CheckpointDirectory!;
        Directory.CreateDirectory(directory);
        string path = CheckpointFiles.PathFor(directory, CheckpointPrefix, step);
        var checkpoint = new TrainingCheckpoint
        {
            ConfigJson = model.Config.ToJson(),
            Data = fingerprint,
            Step = step,
            SamplerState = samplerState,
            Counters = counters,
            History = history.ToList(),
        };
        checkpoint.Write(path, model, optimizer);
        CheckpointFiles.Prune(directory, CheckpointPrefix, settings.KeepCheckpoints);
        return path;
    }
}
