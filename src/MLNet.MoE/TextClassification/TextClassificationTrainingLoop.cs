using System.Diagnostics.CodeAnalysis;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Settings of one classifier training run (a plain copy of the trainer options that matter to the loop).</summary>
internal sealed record TextClassificationTrainingSettings : TrainingEngineSettings
{
    /// <summary>Settings given member by member.</summary>
    public TextClassificationTrainingSettings()
    {
    }

    /// <summary>
    /// A run of ensemble member <paramref name="member"/> of the classifier trainer: the shared options, then the
    /// backbone's learning-rate scale, the evaluation cadence and patience, the padding id and the member's checkpoints.
    /// </summary>
    [SetsRequiredMembers]
    public TextClassificationTrainingSettings(MoeTextClassificationOptions options, int steps, int seed, ScalarType computeType, KernelSet kernels,
        int member, int padId, string? checkpointDirectory, string? resumeFrom)
        : base(options, steps, seed, computeType, kernels)
    {
        BackboneLearningRateScale = options.BackboneLearningRateScale;
        EvaluateEverySteps = options.EvaluateEverySteps;
        EarlyStoppingPatience = options.EarlyStoppingPatience;
        NgramLearningRateScale = options.NgramLearningRateScale;
        PadId = padId;
        Member = member;
        CheckpointDirectory = checkpointDirectory;
        ResumeFrom = resumeFrom;
    }

    /// <summary>Learning-rate multiplier of the backbone (the head keeps 1).</summary>
    public double BackboneLearningRateScale { get; init; } = 1.0;

    /// <summary>Evaluate on the validation rows every this many steps (0: at the end of every epoch).</summary>
    public int EvaluateEverySteps { get; init; }

    /// <summary>Stop after this many evaluations without a better validation loss (0: never stop early).</summary>
    public int EarlyStoppingPatience { get; init; } = 3;

    /// <summary>Token id used for padding (never read: padded positions are masked out).</summary>
    public int PadId { get; init; }

    /// <summary>Learning-rate multiplier of the wide branch of hashed n-grams.</summary>
    public double NgramLearningRateScale { get; init; } = 1.0;

    /// <summary>The ensemble member (1-based) this run trains, stamped on its progress reports.</summary>
    public int Member { get; init; } = 1;
}

/// <summary>
/// Trains a <see cref="MoeTextClassifier"/> on token-id sequences with class labels: the classifier task of the shared
/// <see cref="TrainingLoop{TProgress, TSummary}"/> (the language model's optimizer, schedule, clipping, MoE routing and
/// routing-bias update, checkpoints and resume). Its part: batches drawn from a shuffled order and grouped by length
/// (less padding), cross-entropy plus the balance loss, the validation rows evaluated every epoch (or every
/// <see cref="TextClassificationTrainingSettings.EvaluateEverySteps"/>) with the weights of the best validation loss kept,
/// and early stopping when the loss has not improved for <see cref="TextClassificationTrainingSettings.EarlyStoppingPatience"/>
/// evaluations. Its checkpoints (<see cref="TextClassificationCheckpoint"/>) let a later run continue exactly where one stopped.
/// </summary>
internal sealed class TextClassificationTrainingLoop : TrainingLoop<TextClassificationProgress, TextClassificationTrainingSummary>
{
    private const string CheckpointPrefix = "classifier-step";

    private readonly MoeTextClassifier model;
    private readonly TextClassificationTrainingSettings settings;
    private readonly Dictionary<string, Tensor> best = new();
    private IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> training = [];
    private IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> validation = [];
    private DataFingerprint fingerprint;
    private TextClassificationTrainingState state = new();
    private int epoch;
    private int batchesDone;
    private List<int[]> epochBatches = new();
    private int[] rows = [];
    private int microBatches;
    private double? validationLoss;
    private double? validationAccuracy;
    private ThroughputClock clock = new(TimeSpan.Zero);

    /// <summary>Creates the loop for a model already on <paramref name="device"/>.</summary>
    public TextClassificationTrainingLoop(MoeTextClassifier model, TextClassificationTrainingSettings settings, Device device)
        : base(model, settings, device, CheckpointPrefix, "TrainingCheckpointDirectory")
    {
        this.model = model;
        this.settings = settings;
    }

    /// <summary>The newest classifier checkpoint file in <paramref name="directory"/>, or null when it holds none.</summary>
    public static string? LatestCheckpoint(string directory) =>
        CheckpointFiles.Latest(directory, CheckpointPrefix);

    /// <summary>
    /// Runs the steps over <paramref name="training"/> (labels 0..C-1); <paramref name="validation"/> may be empty (no
    /// early stopping). With <see cref="TrainingEngineSettings.ResumeFrom"/> it continues that checkpoint's run, which
    /// must have been made with the same architecture, rows and settings.
    /// </summary>
    public TextClassificationTrainingSummary Run(IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> training, IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> validation,
        Action<TextClassificationProgress> report, CancellationToken cancellation = default)
    {
        if (training.Count == 0) throw new ArgumentException("No training rows.", nameof(training));
        this.training = training;
        this.validation = validation;
        fingerprint = Fingerprint(training, validation);
        return RunSteps(report, cancellation);
    }

    /// <inheritdoc />
    protected override TrainingEngine CreateEngine() =>
        new(settings, model.OptimizerGroups(settings.Optimizer.WeightDecay, settings.BackboneLearningRateScale, settings.NgramLearningRateScale),
            model.Backbone.MoeLayers().Where(m => m.Layer < model.Backbone.Config.NumHiddenLayers), model.Backbone.Config.NRoutedExperts, Device, model.Adapters);

    /// <inheritdoc />
    protected override int Resume(string path, TrainingEngine engine)
    {
        var header = TextClassificationCheckpoint.ReadHeader(path);
        CheckResumable(header, path, fingerprint);
        TextClassificationCheckpoint.Read(path, model, best, engine.Optimizer);
        state = header.State;
        History.AddRange(header.History.Select(p => p with { Member = settings.Member }));
        epoch = header.Epoch;
        batchesDone = header.BatchesDoneInEpoch;
        if (epoch > 0) epochBatches = EpochBatches(training, epoch);
        return header.Step;
    }

    /// <inheritdoc />
    protected override void Started() => clock = new ThroughputClock(state.Elapsed);

    /// <inheritdoc />
    protected override int BeginStep(int step)
    {
        if (batchesDone == epochBatches.Count)
        {
            epoch++;
            epochBatches = EpochBatches(training, epoch);
            batchesDone = 0;
        }
        rows = epochBatches[batchesDone++];
        // The batch's rows in up to GradientAccumulationSteps consecutive micro-batches; each one's loss is weighted by its
        // share of the rows, so the summed gradient is that of the whole batch's mean loss.
        microBatches = Math.Min(settings.GradientAccumulationSteps, rows.Length);
        return microBatches;
    }

    /// <inheritdoc />
    protected override MicroBatchLoss Forward(int microBatch, ForwardContext context)
    {
        int from = rows.Length * microBatch / microBatches, to = rows.Length * (microBatch + 1) / microBatches;
        var part = rows[from..to];
        var (ids, lengths) = TextClassificationBatches.Pad(part.Select(i => training[i].Ids).ToList(), settings.PadId, Device);
        var labels = torch.tensor(part.Select(i => (long)training[i].Label).ToArray(), device: Device);
        var bag = model.NgramBuckets > 0 ? NgramBatch.Of(part.Select(i => training[i].Ngrams).ToList(), Device) : null;
        var (logits, routing) = model.Forward(ids, lengths, bag, context);
        var crossEntropy = nn.functional.cross_entropy(logits, labels);
        var total = routing.BalanceLoss() is { } balance ? crossEntropy + balance : crossEntropy;
        double divisor = (double)rows.Length / part.Length;
        return new MicroBatchLoss(total, crossEntropy / divisor, divisor, routing);
    }

    /// <inheritdoc />
    protected override void EndStep(StepOutcome outcome)
    {
        state.LossSum += outcome.ReportedLoss.item<double>();
        state.LossTerms++;
        state.RowsInWindow += rows.Length;
    }

    /// <inheritdoc />
    protected override bool ChecksSkippedStepsEveryStep => true;

    /// <inheritdoc />
    protected override (bool Validated, bool Stop) Validate(int step)
    {
        bool endOfEpoch = batchesDone == epochBatches.Count;
        bool evaluate = validation.Count > 0 && (step == settings.Steps || (settings.EvaluateEverySteps > 0 ? step % settings.EvaluateEverySteps == 0 : endOfEpoch));
        validationLoss = null;
        validationAccuracy = null;
        if (evaluate)
        {
            var (loss, accuracy) = Evaluate(validation);
            validationLoss = loss;
            validationAccuracy = accuracy;
            if (loss < state.BestLoss)
            {
                state.BestLoss = loss;
                state.BestAccuracy = accuracy;
                state.BestStep = step;
                state.EvaluationsWithoutImprovement = 0;
                DisposeAll(best);
                Snapshot(best);
            }
            else
            {
                state.EvaluationsWithoutImprovement++;
            }
        }
        return (evaluate, PatienceRunOut(state));
    }

    /// <inheritdoc />
    protected override TextClassificationProgress Progress(int step, double learningRate, TrainingEngine engine)
    {
        var progress = new TextClassificationProgress
        {
            Member = settings.Member,
            Step = step,
            TotalSteps = settings.Steps,
            Epoch = epoch,
            Loss = state.LossSum / Math.Max(1, state.LossTerms),
            LearningRate = learningRate,
            RowsPerSecond = clock.PerSecond(state.RowsInWindow),
            ValidationLoss = validationLoss,
            ValidationAccuracy = validationAccuracy,
            Elapsed = clock.Elapsed,
        };
        state.LossSum = 0;
        state.LossTerms = 0;
        state.RowsInWindow = 0;
        clock.RestartWindow();
        return progress;
    }

    /// <inheritdoc />
    protected override TextClassificationProgress WithCheckpointPath(TextClassificationProgress progress, string path) => progress with { CheckpointPath = path };

    /// <inheritdoc />
    protected override void WriteCheckpoint(string path, int step, TrainingEngine engine)
    {
        var checkpoint = new TextClassificationCheckpoint
        {
            ConfigJson = model.Backbone.Config.ToJson(),
            ClassCount = model.ClassCount,
            Pooling = model.Pooling,
            HeadHiddenSize = model.HeadHiddenSize,
            NgramBuckets = model.NgramBuckets,
            Data = fingerprint,
            Step = step,
            Epoch = epoch,
            BatchesDoneInEpoch = batchesDone,
            State = state with { Elapsed = clock.Elapsed },
            History = History.ToList(),
        };
        checkpoint.Write(path, model, best.Count > 0 ? best : null, engine.Optimizer);
    }

    /// <inheritdoc />
    protected override void Completed()
    {
        if (best.Count > 0) Restore(best);
    }

    /// <inheritdoc />
    protected override void Release() => DisposeAll(best);

    /// <inheritdoc />
    protected override TextClassificationTrainingSummary Finish(int step, bool stoppedEarly, Action<TextClassificationProgress> report) =>
        Summary(step, state, stoppedEarly, History, training, validation);

    /// <summary>The summary of a run that ended at <paramref name="step"/>: the best weights' figures when it validated, else the last step's.</summary>
    private TextClassificationTrainingSummary Summary(int step, TextClassificationTrainingState state, bool stoppedEarly, IReadOnlyList<TextClassificationProgress> history,
        IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> training, IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> validation)
    {
        bool kept = state.BestStep > 0;
        return new TextClassificationTrainingSummary
        {
            Steps = step,
            TrainingRows = training.Count,
            ValidationRows = validation.Count,
            KeptStep = kept ? state.BestStep : step,
            ValidationLoss = kept ? state.BestLoss : double.NaN,
            ValidationAccuracy = kept ? state.BestAccuracy : double.NaN,
            StoppedEarly = stoppedEarly,
            Kernels = settings.Kernels.ToString(),
            History = history,
        };
    }

    /// <summary>Whether a checkpoint ends its run: at the last step, or after early stopping.</summary>
    private bool Finished(TextClassificationCheckpoint checkpoint) =>
        checkpoint.Step >= settings.Steps || PatienceRunOut(checkpoint.State);

    /// <summary>Whether early stopping ends the run: as many evaluations without improvement as the patience allows.</summary>
    private bool PatienceRunOut(TextClassificationTrainingState state) =>
        settings.EarlyStoppingPatience > 0 && state.EvaluationsWithoutImprovement >= settings.EarlyStoppingPatience;

    /// <summary>The fingerprint of the rows a run trains and validates on: labels, lengths and ids, in order.</summary>
    public static DataFingerprint Fingerprint(IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> training, IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> validation)
    {
        var values = new List<int>();
        foreach (var rows in new[] { training, validation })
        {
            values.Add(rows.Count);
            foreach (var (ids, ngrams, label) in rows)
            {
                values.Add(label);
                values.Add(ids.Length);
                values.AddRange(ids);
                if (ngrams.Length == 0) continue;
                values.Add(ngrams.Length);
                values.AddRange(ngrams);
            }
        }
        return DataFingerprint.Of(values);
    }

    /// <summary>
    /// When the checkpoint at <paramref name="path"/> ends its run (its last step, or an early stop), loads the weights
    /// that run kept (the best ones with validation, else the last) into the model and returns the run's summary; returns
    /// null when the run has steps left (resume it with <see cref="TrainingEngineSettings.ResumeFrom"/>). The checkpoint
    /// must come from a run of the same architecture on the same rows.
    /// </summary>
    public TextClassificationTrainingSummary? TryLoadFinished(string path, IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> training, IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> validation)
    {
        var header = TextClassificationCheckpoint.ReadHeader(path);
        CheckSameRun(header, path, Fingerprint(training, validation));
        if (header.Step > settings.Steps)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' is at step {header.Step}; this run has only {settings.Steps} steps. Resume with the same epochs and batch size.");
        if (!Finished(header)) return null;
        var kept = new Dictionary<string, Tensor>();
        try
        {
            TextClassificationCheckpoint.Read(path, model, kept, optimizer: null);
            if (kept.Count > 0) Restore(kept);
        }
        finally
        {
            DisposeAll(kept);
            model.eval();
        }
        var history = header.History.Select(p => p with { Member = settings.Member }).ToList();
        return Summary(header.Step, header.State, header.Step < settings.Steps, history, training, validation);
    }

    private void CheckSameRun(TextClassificationCheckpoint checkpoint, string path, DataFingerprint fingerprint)
    {
        if (checkpoint.ConfigJson != model.Backbone.Config.ToJson() || checkpoint.ClassCount != model.ClassCount || checkpoint.Pooling != model.Pooling || checkpoint.HeadHiddenSize != model.HeadHiddenSize || checkpoint.NgramBuckets != model.NgramBuckets)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' was made for another classifier ({checkpoint.ClassCount} classes, {checkpoint.Pooling} pooling, head hidden size {checkpoint.HeadHiddenSize}, {checkpoint.NgramBuckets} n-gram buckets, or another backbone config); this run trains {model.ClassCount} classes with {model.Pooling} pooling, head hidden size {model.HeadHiddenSize} and {model.NgramBuckets} n-gram buckets. Resume with the same backbone and options.");
        if (checkpoint.Data != fingerprint)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' was made on other rows (fingerprint {checkpoint.Data.Length} values, hash {checkpoint.Data.Hash:x16}); this run has {fingerprint.Length} values, hash {fingerprint.Hash:x16}. Resume with the same data, tokenizer, seed and validation fraction.");
    }

    private void CheckResumable(TextClassificationCheckpoint checkpoint, string path, DataFingerprint fingerprint)
    {
        CheckSameRun(checkpoint, path, fingerprint);
        if (checkpoint.Step >= settings.Steps)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' is at step {checkpoint.Step}; this run has only {settings.Steps} steps: nothing is left to train.");
        if (PatienceRunOut(checkpoint.State))
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' ends a run that stopped early at step {checkpoint.Step}: nothing is left to train.");
    }

    /// <summary>Mean cross-entropy and accuracy of <paramref name="rows"/> in eval mode.</summary>
    public (double Loss, double Accuracy) Evaluate(IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> rows)
    {
        model.eval();
        return Score(TextClassificationBatches.Probabilities(model, rows.Select(r => r.Ids).ToList(), rows.Select(r => r.Ngrams).ToList(), Math.Max(settings.BatchSize, 32), settings.PadId), rows);
    }

    /// <summary>Mean cross-entropy and accuracy of class probabilities against the rows' labels.</summary>
    public static (double Loss, double Accuracy) Score(float[][] probabilities, IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> rows)
    {
        double loss = 0;
        int correct = 0;
        for (int i = 0; i < rows.Count; i++)
        {
            var p = probabilities[i];
            loss -= Math.Log(Math.Max(p[rows[i].Label], 1e-12f));
            int argmax = 0;
            for (int c = 1; c < p.Length; c++) if (p[c] > p[argmax]) argmax = c;
            if (argmax == rows[i].Label) correct++;
        }
        return (loss / rows.Count, (double)correct / rows.Count);
    }

    /// <summary>
    /// One epoch's batches: a shuffled order, cut into pools of 32 batches that are sorted by length and cut into batches,
    /// in shuffled batch order. The order depends only on the seed and the epoch, so a resumed run rebuilds it.
    /// </summary>
    private List<int[]> EpochBatches(IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> training, int epoch)
    {
        var random = new Random(unchecked(settings.Seed * 1_000_003 + epoch));
        int[] order = Enumerable.Range(0, training.Count).ToArray();
        random.Shuffle(order);
        int pool = settings.BatchSize * 32;
        var batches = new List<int[]>();
        for (int start = 0; start < order.Length; start += pool)
        {
            var sorted = order.Skip(start).Take(pool).OrderBy(i => training[i].Ids.Length).ToArray();
            for (int b = 0; b < sorted.Length; b += settings.BatchSize) batches.Add(sorted.Skip(b).Take(settings.BatchSize).ToArray());
        }
        var shuffled = batches.ToArray();
        random.Shuffle(shuffled);
        return shuffled.ToList();
    }

    private void Snapshot(Dictionary<string, Tensor> into)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, tensor) in model.TrainingState()) into[name] = tensor.detach().clone().DetachFromDisposeScope();
    }

    private void Restore(Dictionary<string, Tensor> snapshot)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, tensor) in model.TrainingState()) tensor.copy_(snapshot[name]);
    }

    private static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
        tensors.Clear();
    }
}
