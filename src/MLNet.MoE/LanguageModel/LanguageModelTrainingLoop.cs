using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Settings of one language-model training run (a plain copy of the trainer options that matter to the loop).</summary>
internal sealed record LanguageModelTrainingSettings : TrainingEngineSettings
{
    /// <summary>Tokens per window.</summary>
    public required int ContextLength { get; init; }

    /// <summary>λ of the MTP loss.</summary>
    public double MultiTokenPredictionWeight { get; init; } = 0.3;
}

/// <summary>
/// Trains a <see cref="MoeCausalLM"/> on a packed token stream: AdamW with decoupled weight decay (none on norms and
/// biases), warm-up + cosine decay, gradient accumulation, global-norm clipping computed on the device, DeepSeek-V3's
/// routing-bias update after every step, optional bfloat16 activations over float32 weights, progress reports,
/// periodic atomic checkpoints that a later run resumes exactly, and a guard that skips steps whose loss or gradient
/// is not finite. Every step runs in its own TorchSharp dispose scope, so the number of live tensors stays flat.
/// </summary>
internal sealed class LanguageModelTrainingLoop
{
    private const string CheckpointPrefix = "checkpoint-step";

    private readonly MoeCausalLM model;
    private readonly LanguageModelTrainingSettings settings;
    private readonly Device device;

    /// <summary>Creates the loop for a model already on <paramref name="device"/>.</summary>
    public LanguageModelTrainingLoop(MoeCausalLM model, LanguageModelTrainingSettings settings, Device device)
    {
        this.model = model;
        this.settings = settings;
        this.device = device;
    }

    /// <summary>The newest checkpoint file in <paramref name="directory"/>, or null when it holds none.</summary>
    public static string? LatestCheckpoint(string directory) =>
        CheckpointFiles.Latest(directory, CheckpointPrefix);

    /// <summary>Runs the steps; <paramref name="report"/> receives each progress report; <paramref name="validation"/> is evaluated at the end.</summary>
    public LanguageModelTrainingSummary Run(int[] trainingStream, int[] validation, Action<LanguageModelProgress> report, CancellationToken cancellation = default)
    {
        int window = Math.Min(settings.ContextLength, trainingStream.Length - 1);
        if (window < 1) throw new ArgumentException("The training data holds fewer than two tokens.", nameof(trainingStream));
        var sampler = new WindowSampler(trainingStream, window, settings.Seed);
        var (decay, noDecay) = model.ParameterGroupsForWeightDecay();
        using var engine = new TrainingEngine(settings, OptimizerGroup.ForWeightDecay(decay, noDecay, settings.Optimizer.WeightDecay), model.MoeLayers(), model.Config.NRoutedExperts, device);
        var rotation = new CheckpointRotation(CheckpointPrefix, settings);
        int accumulation = settings.GradientAccumulationSteps;
        int microBatch = settings.BatchSize / accumulation;
        var fingerprint = DataFingerprint.Of(trainingStream);
        var counters = new TrainingCounters();
        var history = new List<LanguageModelProgress>();
        int firstStep = 1;
        string? lastCheckpoint = null;
        if (settings.ResumeFrom is { } resume)
        {
            var checkpoint = LanguageModelCheckpoint.Read(resume, model, engine.Optimizer);
            if (checkpoint.Data != fingerprint)
                throw new InvalidOperationException($"Training checkpoint '{resume}' was made on other training data ({checkpoint.Data.Length} tokens, hash {checkpoint.Data.Hash:x16}); this run has {fingerprint.Length} tokens, hash {fingerprint.Hash:x16}. Resume with the same data, seed and validation split.");
            if (checkpoint.Step >= settings.Steps)
                throw new InvalidOperationException($"Training checkpoint '{resume}' is at step {checkpoint.Step}; this run has only {settings.Steps} steps.");
            sampler.State = checkpoint.SamplerState;
            counters = checkpoint.Counters;
            history.AddRange(checkpoint.History);
            firstStep = checkpoint.Step + 1;
            lastCheckpoint = resume;
            engine.Meters.Restore(counters);
        }
        long tokensInWindow = counters.TokensInWindow;
        long tokensSeen = counters.TokensSeen;
        int skippedSteps = counters.SkippedSteps;
        var clock = new ThroughputClock(history.Count > 0 ? history[^1].Elapsed : TimeSpan.Zero);
        double lastLoss = history.Count > 0 ? history[^1].Loss : double.NaN;
        model.train();
        try
        {
            for (int step = firstStep; step <= settings.Steps; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var outcome = engine.Step(step, accumulation, (_, context) =>
                {
                    var (inputs, targets) = sampler.Next(microBatch, device);
                    var (total, crossEntropy, routing) = model.Loss(inputs, targets, context, settings.MultiTokenPredictionWeight);
                    return new MicroBatchLoss(total, crossEntropy, accumulation, routing);
                });
                bool reportNow = step % settings.LogEverySteps == 0 || step == settings.Steps;
                skippedSteps = engine.CheckSkippedSteps(step, reportNow, lastCheckpoint, "CheckpointDirectory") ?? skippedSteps;
                long tokens = (long)settings.BatchSize * window;
                tokensInWindow += tokens;
                tokensSeen += tokens;
                LanguageModelProgress? progress = null;
                if (reportNow)
                {
                    var (loss, droppedFraction, loadBalance, loadShares) = engine.Meters.TakeWindow();
                    lastLoss = loss;
                    progress = new LanguageModelProgress
                    {
                        Step = step,
                        TotalSteps = settings.Steps,
                        Loss = lastLoss,
                        LearningRate = outcome.LearningRate,
                        TokensPerSecond = clock.PerSecond(tokensInWindow),
                        ExpertLoadMaxOverMean = loadBalance,
                        ExpertLoadShares = loadShares,
                        DroppedFraction = droppedFraction,
                        SkippedSteps = skippedSteps,
                        Elapsed = clock.Elapsed,
                    };
                    history.Add(progress);
                    tokensInWindow = 0;
                    clock.RestartWindow();
                }
                if (rotation.Due(step, final: step == settings.Steps))
                {
                    var checkpoint = new LanguageModelCheckpoint
                    {
                        ConfigJson = model.Config.ToJson(),
                        Data = fingerprint,
                        Step = step,
                        SamplerState = sampler.State,
                        Counters = engine.Meters.ToCounters(tokensInWindow, tokensSeen),
                        History = history.ToList(),
                    };
                    lastCheckpoint = rotation.Write(step, path => checkpoint.Write(path, model, engine.Optimizer));
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
            model.eval();
        }
        var (validationLoss, _) = StreamEvaluator.Evaluate(model, validation, settings.ContextLength, settings.BatchSize);
        if (!double.IsNaN(validationLoss) && history.Count > 0)
        {
            var last = history[^1] with { ValidationLoss = validationLoss };
            history[^1] = last;
            report(last);
        }
        return new LanguageModelTrainingSummary
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
}
