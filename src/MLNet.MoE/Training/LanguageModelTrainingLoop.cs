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

    /// <summary>Peak learning rate.</summary>
    public required double LearningRate { get; init; }

    /// <summary>Final learning rate as a fraction of the peak.</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    /// <summary>Warm-up steps.</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Decoupled weight decay.</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>AdamW β1.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β2.</summary>
    public double Beta2 { get; init; } = 0.95;

    /// <summary>Global gradient-norm clip (0: off).</summary>
    public double GradientClipNorm { get; init; } = 1.0;

    /// <summary>Seed of the window sampler.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Expert capacity factor during training.</summary>
    public double CapacityFactor { get; init; } = 2.0;

    /// <summary>γ of the routing-bias update.</summary>
    public double BiasUpdateRate { get; init; } = 0.001;

    /// <summary>α of the balance loss.</summary>
    public double BalanceLossWeight { get; init; }

    /// <summary>λ of the MTP loss.</summary>
    public double MultiTokenPredictionWeight { get; init; } = 0.3;

    /// <summary>Report every this many steps.</summary>
    public int LogEverySteps { get; init; } = 10;
}

/// <summary>
/// Trains a <see cref="MoeCausalLM"/> on a packed token stream: AdamW with decoupled weight decay (none on norms and
/// biases), warm-up + cosine decay, gradient accumulation, global-norm clipping computed on the device (no host
/// synchronisation), DeepSeek-V3's routing-bias update after every step, and progress reports. Every step runs in
/// its own TorchSharp dispose scope, so the number of live tensors stays flat.
/// </summary>
public sealed class LanguageModelTrainingLoop
{
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

    /// <summary>Runs the steps; <paramref name="report"/> receives each progress report; <paramref name="validation"/> is evaluated at the end.</summary>
    public TrainingSummary Run(int[] trainingStream, int[] validation, Action<TrainingProgress> report, CancellationToken cancellation = default)
    {
        int window = Math.Min(settings.ContextLength, trainingStream.Length - 1);
        if (window < 1) throw new ArgumentException("The training data holds fewer than two tokens.", nameof(trainingStream));
        var sampler = new WindowSampler(trainingStream, window, settings.Seed);
        var schedule = new LearningRateSchedule(settings.LearningRate, settings.MinLearningRateRatio, settings.WarmupSteps, settings.Steps);
        var (decay, noDecay) = model.ParameterGroupsForWeightDecay();
        var groups = new List<AdamW.ParamGroup>
        {
            new(decay, new AdamW.Options { LearningRate = settings.LearningRate, weight_decay = settings.WeightDecay, beta1 = settings.Beta1, beta2 = settings.Beta2 }),
            new(noDecay, new AdamW.Options { LearningRate = settings.LearningRate, weight_decay = 0.0, beta1 = settings.Beta1, beta2 = settings.Beta2 }),
        };
        using var optimizer = torch.optim.AdamW(groups, settings.LearningRate, settings.Beta1, settings.Beta2, 1e-8, settings.WeightDecay);
        var parameters = model.parameters().ToList();
        var moeLayers = model.MoeLayers().ToList();
        int microBatch = settings.BatchSize / settings.GradientAccumulationSteps;

        // Report-window accumulators live outside the step scopes and are updated in place on the device.
        using var lossSum = torch.zeros(1, dtype: ScalarType.Float32, device: device);
        var loadSums = moeLayers.ToDictionary(m => m.Layer, m => torch.zeros(model.Config.NRoutedExperts, dtype: ScalarType.Float32, device: device));
        using var droppedSum = torch.zeros(1, dtype: ScalarType.Float32, device: device);
        long assignmentsInWindow = 0;
        int lossTerms = 0;
        var history = new List<TrainingProgress>();
        var clock = Stopwatch.StartNew();
        var windowClock = Stopwatch.StartNew();
        long tokensInWindow = 0;
        long tokensSeen = 0;
        double lastLoss = double.NaN;
        model.train();
        try
        {
            for (int step = 1; step <= settings.Steps; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                double lr = schedule.At(step);
                foreach (var group in groups) group.LearningRate = lr;
                optimizer.zero_grad();
                var stepLoad = moeLayers.ToDictionary(m => m.Layer, m => torch.zeros(model.Config.NRoutedExperts, dtype: ScalarType.Float32, device: device));
                for (int micro = 0; micro < settings.GradientAccumulationSteps; micro++)
                {
                    var (inputs, targets) = sampler.Next(microBatch, device);
                    using var context = new ForwardContext
                    {
                        Training = true,
                        CapacityFactor = settings.CapacityFactor,
                        BalanceLossWeight = settings.BalanceLossWeight,
                    };
                    var (total, crossEntropy) = model.Loss(inputs, targets, context, settings.MultiTokenPredictionWeight);
                    (total / settings.GradientAccumulationSteps).backward();
                    using (torch.no_grad())
                    {
                        lossSum.add_(crossEntropy.detach());
                        lossTerms++;
                        foreach (var (layer, load) in context.ExpertLoad) stepLoad[layer].add_(load.to(ScalarType.Float32));
                        foreach (var dropped in context.DroppedAssignments.Values) droppedSum.add_(dropped.to(ScalarType.Float32));
                        assignmentsInWindow += context.AssignmentsPerLayer * context.DroppedAssignments.Count;
                    }
                    long tokens = (long)microBatch * window;
                    tokensInWindow += tokens;
                    tokensSeen += tokens;
                }
                if (settings.GradientClipNorm > 0) ClipGradientNorm(parameters, settings.GradientClipNorm);
                optimizer.step();
                using (torch.no_grad())
                {
                    foreach (var (layer, moe) in moeLayers)
                    {
                        var load = stepLoad[layer];
                        loadSums[layer].add_(load);
                        if (settings.BiasUpdateRate > 0 && model.Config.TopkMethod == "noaux_tc")
                        {
                            // DeepSeek-V3: b_i += γ · sign(mean load − load_i).
                            moe.Router.CorrectionBias.add_((load.mean() - load).sign() * settings.BiasUpdateRate);
                        }
                    }
                }
                if (step % settings.LogEverySteps == 0 || step == settings.Steps)
                {
                    lastLoss = lossSum.item<float>() / Math.Max(1, lossTerms);
                    var loadBalance = new Dictionary<int, double>();
                    foreach (var (layer, sum) in loadSums)
                    {
                        using var mean = sum.mean();
                        using var max = sum.max();
                        double meanValue = mean.item<float>();
                        loadBalance[layer] = meanValue > 0 ? max.item<float>() / meanValue : 0;
                        sum.zero_();
                    }
                    double droppedFraction = assignmentsInWindow > 0 ? droppedSum.item<float>() / assignmentsInWindow : 0;
                    var progress = new TrainingProgress
                    {
                        Step = step,
                        TotalSteps = settings.Steps,
                        Loss = lastLoss,
                        LearningRate = lr,
                        TokensPerSecond = tokensInWindow / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds),
                        ExpertLoadMaxOverMean = loadBalance,
                        DroppedFraction = droppedFraction,
                        Elapsed = clock.Elapsed,
                    };
                    history.Add(progress);
                    report(progress);
                    lossSum.zero_();
                    droppedSum.zero_();
                    lossTerms = 0;
                    assignmentsInWindow = 0;
                    tokensInWindow = 0;
                    windowClock.Restart();
                }
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
            History = history,
        };
    }

    /// <summary>Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/>; the norm stays on the device.</summary>
    internal static void ClipGradientNorm(IReadOnlyList<Parameter> parameters, double maxNorm)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0) return;
        var squares = torch.stack(grads.Select(g => g.to(ScalarType.Float32).pow(2).sum()).ToArray());
        var norm = squares.sum().sqrt();
        var coefficient = (maxNorm / (norm + 1e-6)).clamp_max(1.0);
        foreach (var g in grads) g.mul_(coefficient.to(g.dtype));
    }
}
