using System.Diagnostics.CodeAnalysis;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Settings of one language-model training run (a plain copy of the trainer options that matter to the loop).</summary>
internal sealed record LanguageModelTrainingSettings : TrainingEngineSettings
{
    /// <summary>Settings given member by member.</summary>
    public LanguageModelTrainingSettings()
    {
    }

    /// <summary>A run of the language-model trainer: the shared options, then its context length, MTP weight and checkpoints.</summary>
    [SetsRequiredMembers]
    public LanguageModelTrainingSettings(LanguageModelOptions options, int steps, int seed, ScalarType computeType, KernelSet kernels, string? resumeFrom)
        : base(options, steps, seed, computeType, kernels)
    {
        ContextLength = options.ContextLength;
        MultiTokenPredictionWeight = options.MultiTokenPredictionWeight;
        CheckpointDirectory = options.CheckpointDirectory;
        ResumeFrom = resumeFrom;
    }

    /// <summary>Tokens per window.</summary>
    public required int ContextLength { get; init; }

    /// <summary>λ of the MTP loss.</summary>
    public double MultiTokenPredictionWeight { get; init; } = 0.3;
}

/// <summary>
/// Trains a <see cref="MoeCausalLM"/> on a packed token stream: the language-model task of the shared
/// <see cref="TrainingLoop{TProgress, TSummary}"/> (AdamW with decoupled weight decay, warm-up + cosine decay, gradient
/// accumulation, global-norm clipping on the device, DeepSeek-V3's routing-bias update after every step, optional
/// bfloat16 activations over float32 weights, the non-finite-step guard, periodic atomic checkpoints that a later run
/// resumes exactly). Its part: windows sampled from the stream, the causal-LM loss with multi-token prediction, reports
/// of loss, throughput and expert load, and the validation stream scored at the end.
/// </summary>
internal sealed class LanguageModelTrainingLoop : TrainingLoop<LanguageModelProgress, LanguageModelTrainingSummary>
{
    private const string CheckpointPrefix = "checkpoint-step";

    private readonly MoeCausalLM model;
    private readonly LanguageModelTrainingSettings settings;
    private readonly LoraAdapters? adapters;
    private ITokenStream trainingStream = new ArrayTokenStream([]);
    private IReadOnlyList<int> validation = [];
    private WindowSampler? sampler;
    private int window;
    private DataFingerprint fingerprint;
    private long tokensInWindow;
    private long tokensSeen;
    private double lastLoss = double.NaN;
    private ThroughputClock clock = new(TimeSpan.Zero);

    /// <summary>Creates the loop for a model already on <paramref name="device"/>.</summary>
    public LanguageModelTrainingLoop(MoeCausalLM model, LanguageModelTrainingSettings settings, Device device, LoraAdapters? adapters = null)
        : base(model, settings, device, CheckpointPrefix, "CheckpointDirectory")
    {
        this.model = model;
        this.settings = settings;
        this.adapters = adapters;
    }

    /// <summary>What the run trains and checkpoints: the LoRA factors (and trained router and norm copies) with adapters, else the model's whole state.</summary>
    private IReadOnlyDictionary<string, Tensor> TrainedState() =>
        adapters?.FactorState() ?? model.state_dict();

    /// <summary>The newest checkpoint file in <paramref name="directory"/>, or null when it holds none.</summary>
    public static string? LatestCheckpoint(string directory) =>
        CheckpointFiles.Latest(directory, CheckpointPrefix);

    /// <summary>Runs the steps over an in-memory stream (its fingerprint computed from its ids).</summary>
    public LanguageModelTrainingSummary Run(int[] trainingStream, int[] validation, Action<LanguageModelProgress> report, CancellationToken cancellation = default) =>
        Run(new ArrayTokenStream(trainingStream), validation, DataFingerprint.Of(trainingStream), report, cancellation);

    /// <summary>
    /// Runs the steps; <paramref name="report"/> receives each progress report; <paramref name="validation"/> is evaluated
    /// at the end. <paramref name="data"/> identifies the training data in checkpoints: a resume on other data is refused.
    /// </summary>
    public LanguageModelTrainingSummary Run(ITokenStream trainingStream, IReadOnlyList<int> validation, DataFingerprint data, Action<LanguageModelProgress> report, CancellationToken cancellation = default)
    {
        window = (int)Math.Min(settings.ContextLength, trainingStream.Length - 1);
        if (window < 1) throw new ArgumentException("The training data holds fewer than two tokens.", nameof(trainingStream));
        this.trainingStream = trainingStream;
        this.validation = validation;
        sampler = new WindowSampler(trainingStream, window, settings.Seed);
        fingerprint = data;
        return RunSteps(report, cancellation);
    }

    private WindowSampler Sampler => sampler ?? throw new InvalidOperationException("The loop has no training stream: call Run.");

    /// <inheritdoc />
    protected override TrainingEngine CreateEngine()
    {
        if (adapters != null)
        {
            var (adapterDecay, adapterNoDecay) = adapters.ParameterGroupsForWeightDecay();
            return new TrainingEngine(settings, OptimizerGroup.ForWeightDecay(adapterDecay, adapterNoDecay, settings.Optimizer.WeightDecay), model.MoeLayers(), model.Config.NRoutedExperts, Device, adapters);
        }
        var (decay, noDecay) = model.ParameterGroupsForWeightDecay();
        return new TrainingEngine(settings, OptimizerGroup.ForWeightDecay(decay, noDecay, settings.Optimizer.WeightDecay), model.MoeLayers(), model.Config.NRoutedExperts, Device);
    }

    /// <inheritdoc />
    protected override int Resume(string path, TrainingEngine engine)
    {
        var checkpoint = LanguageModelCheckpoint.Read(path, TrainedState(), engine.Optimizer);
        if (checkpoint.Data != fingerprint)
            throw new InvalidOperationException($"Training checkpoint '{path}' was made on other training data ({checkpoint.Data.Length} tokens, hash {checkpoint.Data.Hash:x16}); this run has {fingerprint.Length} tokens, hash {fingerprint.Hash:x16}. Resume with the same data (the same token store), seed and validation split.");
        if (checkpoint.Step >= settings.Steps)
            throw new InvalidOperationException($"Training checkpoint '{path}' is at step {checkpoint.Step}; this run has only {settings.Steps} steps.");
        Sampler.State = checkpoint.SamplerState;
        var counters = checkpoint.Counters;
        History.AddRange(checkpoint.History);
        engine.Meters.Restore(counters);
        tokensInWindow = counters.TokensInWindow;
        tokensSeen = counters.TokensSeen;
        SkippedSteps = counters.SkippedSteps;
        return checkpoint.Step;
    }

    /// <inheritdoc />
    protected override void Started()
    {
        clock = new ThroughputClock(History.Count > 0 ? History[^1].Elapsed : TimeSpan.Zero);
        lastLoss = History.Count > 0 ? History[^1].Loss : double.NaN;
    }

    /// <inheritdoc />
    protected override int BeginStep(int step) => settings.GradientAccumulationSteps;

    /// <inheritdoc />
    protected override MicroBatchLoss Forward(int microBatch, ForwardContext context)
    {
        int accumulation = settings.GradientAccumulationSteps;
        var (inputs, targets) = Sampler.Next(settings.BatchSize / accumulation, Device);
        var (total, crossEntropy, routing) = model.Loss(inputs, targets, context, settings.MultiTokenPredictionWeight);
        return new MicroBatchLoss(total, crossEntropy, accumulation, routing);
    }

    /// <inheritdoc />
    protected override void EndStep(StepOutcome outcome)
    {
        long tokens = (long)settings.BatchSize * window;
        tokensInWindow += tokens;
        tokensSeen += tokens;
    }

    /// <inheritdoc />
    protected override LanguageModelProgress Progress(int step, double learningRate, TrainingEngine engine)
    {
        var (loss, droppedFraction, loadBalance, loadShares) = engine.Meters.TakeWindow();
        lastLoss = loss;
        var progress = new LanguageModelProgress
        {
            Step = step,
            TotalSteps = settings.Steps,
            Loss = loss,
            LearningRate = learningRate,
            TokensPerSecond = clock.PerSecond(tokensInWindow),
            ExpertLoadMaxOverMean = loadBalance,
            ExpertLoadShares = loadShares,
            DroppedFraction = droppedFraction,
            SkippedSteps = SkippedSteps,
            Elapsed = clock.Elapsed,
        };
        tokensInWindow = 0;
        clock.RestartWindow();
        return progress;
    }

    /// <inheritdoc />
    protected override LanguageModelProgress WithCheckpointPath(LanguageModelProgress progress, string path) => progress with { CheckpointPath = path };

    /// <inheritdoc />
    protected override void WriteCheckpoint(string path, int step, TrainingEngine engine)
    {
        var checkpoint = new LanguageModelCheckpoint
        {
            ConfigJson = model.Config.ToJson(),
            Data = fingerprint,
            Step = step,
            SamplerState = Sampler.State,
            Counters = engine.Meters.ToCounters(tokensInWindow, tokensSeen),
            History = History.ToList(),
        };
        checkpoint.Write(path, TrainedState(), engine.Optimizer);
    }

    /// <inheritdoc />
    protected override LanguageModelTrainingSummary Finish(int step, bool stoppedEarly, Action<LanguageModelProgress> report)
    {
        var (validationLoss, _) = StreamEvaluator.Evaluate(model, validation, settings.ContextLength, settings.BatchSize, adapters);
        if (!double.IsNaN(validationLoss) && History.Count > 0)
        {
            var last = History[^1] with { ValidationLoss = validationLoss };
            History[^1] = last;
            report(last);
        }
        return new LanguageModelTrainingSummary
        {
            Steps = settings.Steps,
            TrainingTokens = tokensSeen,
            TrainingStreamTokens = trainingStream.Length,
            ValidationStreamTokens = validation.Count,
            FinalTrainingLoss = lastLoss,
            ValidationLoss = validationLoss,
            SkippedSteps = SkippedSteps,
            Kernels = settings.Kernels.ToString(),
            History = History,
        };
    }
}
