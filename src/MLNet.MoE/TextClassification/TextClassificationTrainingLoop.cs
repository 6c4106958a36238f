using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Settings of one classifier training run (a plain copy of the trainer options that matter to the loop).</summary>
internal sealed record TextClassificationTrainingSettings : TrainingEngineSettings
{
    /// <summary>Learning-rate multiplier of the backbone (the head keeps 1).</summary>
    public double BackboneLearningRateScale { get; init; } = 1.0;

    /// <summary>Evaluate on the validation rows every this many steps (0: at the end of every epoch).</summary>
    public int EvaluateEverySteps { get; init; }

    /// <summary>Stop after this many evaluations without a better validation loss (0: never stop early).</summary>
    public int EarlyStoppingPatience { get; init; } = 3;

    /// <summary>Token id used for padding (never read: padded positions are masked out).</summary>
    public int PadId { get; init; }

    /// <summary>The ensemble member (1-based) this run trains, stamped on its progress reports.</summary>
    public int Member { get; init; } = 1;
}

/// <summary>
/// Trains a <see cref="MoeTextClassifier"/> on token-id sequences with class labels, with the language-model trainer's
/// pieces: AdamW with decoupled weight decay (none on norms and biases), warm-up + cosine decay, global-norm clipping,
/// MoE training with capacity and DeepSeek-V3's routing-bias update after every step. Batches are drawn from a
/// shuffled order and grouped by length (less padding); the validation rows are evaluated every epoch (or every
/// <see cref="TextClassificationTrainingSettings.EvaluateEverySteps"/>), the weights with the best validation loss are kept,
/// and training stops when the loss has not improved for <see cref="TextClassificationTrainingSettings.EarlyStoppingPatience"/> evaluations.
/// Periodic atomic checkpoints (<see cref="TextClassificationCheckpoint"/>) let a later run continue exactly where one stopped.
/// Every step runs in its own TorchSharp dispose scope.
/// </summary>
internal sealed class TextClassificationTrainingLoop
{
    private const string CheckpointPrefix = "classifier-step";

    private readonly MoeTextClassifier model;
    private readonly TextClassificationTrainingSettings settings;
    private readonly Device device;

    /// <summary>Creates the loop for a model already on <paramref name="device"/>.</summary>
    public TextClassificationTrainingLoop(MoeTextClassifier model, TextClassificationTrainingSettings settings, Device device)
    {
        this.model = model;
        this.settings = settings;
        this.device = device;
    }

    /// <summary>The newest classifier checkpoint file in <paramref name="directory"/>, or null when it holds none.</summary>
    public static string? LatestCheckpoint(string directory) =>
        CheckpointFiles.Latest(directory, CheckpointPrefix);

    /// <summary>
    /// Runs the steps over <paramref name="training"/> (labels 0..C-1); <paramref name="validation"/> may be empty (no
    /// early stopping). With <see cref="TrainingEngineSettings.ResumeFrom"/> it continues that checkpoint's run, which
    /// must have been made with the same architecture, rows and settings.
    /// </summary>
    public TextClassificationTrainingSummary Run(IReadOnlyList<(int[] Ids, int Label)> training, IReadOnlyList<(int[] Ids, int Label)> validation,
        Action<TextClassificationProgress> report, CancellationToken cancellation = default)
    {
        if (training.Count == 0) throw new ArgumentException("No training rows.", nameof(training));
        // The language model's engine: flat-buffer AdamW, clipping and the non-finite guard on the device, accumulation, precision, recomputation.
        using var engine = new TrainingEngine(settings, model.OptimizerGroups(settings.Optimizer.WeightDecay, settings.BackboneLearningRateScale),
            model.Backbone.MoeLayers().Where(m => m.Layer < model.Backbone.Config.NumHiddenLayers), model.Backbone.Config.NRoutedExperts, device);
        var optimizer = engine.Optimizer;
        var rotation = new CheckpointRotation(CheckpointPrefix, settings);
        var fingerprint = Fingerprint(training, validation);
        var history = new List<TextClassificationProgress>();
        var state = new TextClassificationTrainingState();
        var best = new Dictionary<string, Tensor>();
        int step = 0;
        int epoch = 0;
        int batchesDone = 0;
        List<int[]> epochBatches = new();
        bool stoppedEarly = false;
        string? lastCheckpoint = null;
        try
        {
            if (settings.ResumeFrom is { } resume)
            {
                var header = TextClassificationCheckpoint.ReadHeader(resume);
                CheckResumable(header, resume, fingerprint);
                TextClassificationCheckpoint.Read(resume, model, best, optimizer);
                state = header.State;
                history.AddRange(header.History.Select(p => p with { Member = settings.Member }));
                step = header.Step;
                epoch = header.Epoch;
                batchesDone = header.BatchesDoneInEpoch;
                lastCheckpoint = resume;
                if (epoch > 0) epochBatches = EpochBatches(training, epoch);
            }
            var clock = new ThroughputClock(state.Elapsed);
            while (step < settings.Steps)
            {
                cancellation.ThrowIfCancellationRequested();
                if (batchesDone == epochBatches.Count)
                {
                    epoch++;
                    epochBatches = EpochBatches(training, epoch);
                    batchesDone = 0;
                }
                var rows = epochBatches[batchesDone++];
                step++;
                model.train();
                double lr;
                double loss;
                using (var scope = torch.NewDisposeScope())
                {
                    // The batch's rows in up to GradientAccumulationSteps consecutive micro-batches; each one's loss is weighted
                    // by its share of the rows, so the summed gradient is that of the whole batch's mean loss.
                    int microBatches = Math.Min(settings.GradientAccumulationSteps, rows.Length);
                    var outcome = engine.Step(step, microBatches, (micro, context) =>
                    {
                        int from = rows.Length * micro / microBatches, to = rows.Length * (micro + 1) / microBatches;
                        var part = rows[from..to];
                        var (ids, lengths) = TextClassificationBatches.Pad(part.Select(i => training[i].Ids).ToList(), settings.PadId, device);
                        var labels = torch.tensor(part.Select(i => (long)training[i].Label).ToArray(), device: device);
                        var (logits, routing) = model.Forward(ids, lengths, context);
                        var crossEntropy = nn.functional.cross_entropy(logits, labels);
                        var total = routing.BalanceLoss() is { } balance ? crossEntropy + balance : crossEntropy;
                        double divisor = (double)rows.Length / part.Length;
                        return new MicroBatchLoss(total, crossEntropy / divisor, divisor, routing);
                    });
                    lr = outcome.LearningRate;
                    loss = outcome.ReportedLoss.item<double>();
                }
                engine.CheckSkippedSteps(step, reportNow: true, lastCheckpoint, "TrainingCheckpointDirectory");
                state.LossSum += loss;
                state.LossTerms++;
                state.RowsInWindow += rows.Length;

                bool endOfEpoch = batchesDone == epochBatches.Count;
                bool evaluate = validation.Count > 0 && (settings.EvaluateEverySteps > 0 ? step % settings.EvaluateEverySteps == 0 : endOfEpoch);
                if (validation.Count > 0 && step == settings.Steps) evaluate = true;
                double? validationLoss = null;
                double? validationAccuracy = null;
                if (evaluate)
                {
                    var (vLoss, vAccuracy) = Evaluate(validation);
                    validationLoss = vLoss;
                    validationAccuracy = vAccuracy;
                    if (vLoss < state.BestLoss)
                    {
                        state.BestLoss = vLoss;
                        state.BestAccuracy = vAccuracy;
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
                bool stop = PatienceRunOut(state);
                TextClassificationProgress? progress = null;
                if (step % settings.LogEverySteps == 0 || step == settings.Steps || evaluate || stop)
                {
                    progress = new TextClassificationProgress
                    {
                        Member = settings.Member,
                        Step = step,
                        TotalSteps = settings.Steps,
                        Epoch = epoch,
                        Loss = state.LossSum / Math.Max(1, state.LossTerms),
                        LearningRate = lr,
                        RowsPerSecond = clock.PerSecond(state.RowsInWindow),
                        ValidationLoss = validationLoss,
                        ValidationAccuracy = validationAccuracy,
                        Elapsed = clock.Elapsed,
                    };
                    history.Add(progress);
                    state.LossSum = 0;
                    state.LossTerms = 0;
                    state.RowsInWindow = 0;
                    clock.RestartWindow();
                }
                if (rotation.Due(step, final: step == settings.Steps || stop))
                {
                    string path = lastCheckpoint = WriteCheckpoint(rotation, step, epoch, batchesDone, state with { Elapsed = clock.Elapsed }, history, best, optimizer, fingerprint);
                    if (progress != null)
                    {
                        progress = progress with { CheckpointPath = path };
                        history[^1] = progress;
                    }
                }
                if (progress != null) report(progress);
                if (stop)
                {
                    stoppedEarly = step < settings.Steps;
                    break;
                }
            }
            if (best.Count > 0) Restore(best);
        }
        finally
        {
            DisposeAll(best);
            model.eval();
        }
        return Summary(step, state, stoppedEarly, history, training, validation);
    }

    /// <summary>The summary of a run that ended at <paramref name="step"/>: the best weights' figures when it validated, else the last step's.</summary>
    private TextClassificationTrainingSummary Summary(int step, TextClassificationTrainingState state, bool stoppedEarly, IReadOnlyList<TextClassificationProgress> history,
        IReadOnlyList<(int[] Ids, int Label)> training, IReadOnlyList<(int[] Ids, int Label)> validation)
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
    public static DataFingerprint Fingerprint(IReadOnlyList<(int[] Ids, int Label)> training, IReadOnlyList<(int[] Ids, int Label)> validation)
    {
        var values = new List<int>();
        foreach (var rows in new[] { training, validation })
        {
            values.Add(rows.Count);
            foreach (var (ids, label) in rows)
            {
                values.Add(label);
                values.Add(ids.Length);
                values.AddRange(ids);
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
    public TextClassificationTrainingSummary? TryLoadFinished(string path, IReadOnlyList<(int[] Ids, int Label)> training, IReadOnlyList<(int[] Ids, int Label)> validation)
    {
        var header = TextClassificationCheckpoint.ReadHeader(path);
        CheckSameRun(header, path, Fingerprint(training, validation));
        if (header.Step > settings.Steps)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' is at step {header.Step}; this run has only {settings.Steps} steps. Resume with the same epochs and batch size.");
        if (!Finished(header)) return null;
        var best = new Dictionary<string, Tensor>();
        try
        {
            TextClassificationCheckpoint.Read(path, model, best, optimizer: null);
            if (best.Count > 0) Restore(best);
        }
        finally
        {
            DisposeAll(best);
            model.eval();
        }
        var history = header.History.Select(p => p with { Member = settings.Member }).ToList();
        return Summary(header.Step, header.State, header.Step < settings.Steps, history, training, validation);
    }

    private void CheckSameRun(TextClassificationCheckpoint checkpoint, string path, DataFingerprint fingerprint)
    {
        if (checkpoint.ConfigJson != model.Backbone.Config.ToJson() || checkpoint.ClassCount != model.ClassCount || checkpoint.Pooling != model.Pooling || checkpoint.HeadHiddenSize != model.HeadHiddenSize)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' was made for another classifier ({checkpoint.ClassCount} classes, {checkpoint.Pooling} pooling, head hidden size {checkpoint.HeadHiddenSize}, or another backbone config); this run trains {model.ClassCount} classes with {model.Pooling} pooling and head hidden size {model.HeadHiddenSize}. Resume with the same backbone and options.");
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

    private string WriteCheckpoint(CheckpointRotation rotation, int step, int epoch, int batchesDone, TextClassificationTrainingState state, List<TextClassificationProgress> history,
        Dictionary<string, Tensor> best, FlatAdamW optimizer, DataFingerprint fingerprint)
    {
        var checkpoint = new TextClassificationCheckpoint
        {
            ConfigJson = model.Backbone.Config.ToJson(),
            ClassCount = model.ClassCount,
            Pooling = model.Pooling,
            HeadHiddenSize = model.HeadHiddenSize,
            Data = fingerprint,
            Step = step,
            Epoch = epoch,
            BatchesDoneInEpoch = batchesDone,
            State = state,
            History = history.ToList(),
        };
        return rotation.Write(step, path => checkpoint.Write(path, model, best.Count > 0 ? best : null, optimizer));
    }

    /// <summary>Mean cross-entropy and accuracy of <paramref name="rows"/> in eval mode.</summary>
    public (double Loss, double Accuracy) Evaluate(IReadOnlyList<(int[] Ids, int Label)> rows)
    {
        model.eval();
        return Score(TextClassificationBatches.Probabilities(model, rows.Select(r => r.Ids).ToList(), Math.Max(settings.BatchSize, 32), settings.PadId), rows);
    }

    /// <summary>Mean cross-entropy and accuracy of class probabilities against the rows' labels.</summary>
    public static (double Loss, double Accuracy) Score(float[][] probabilities, IReadOnlyList<(int[] Ids, int Label)> rows)
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
    private List<int[]> EpochBatches(IReadOnlyList<(int[] Ids, int Label)> training, int epoch)
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
        foreach (var (name, tensor) in model.state_dict()) into[name] = tensor.detach().clone().DetachFromDisposeScope();
    }

    private void Restore(Dictionary<string, Tensor> snapshot)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, tensor) in model.state_dict()) tensor.copy_(snapshot[name]);
    }

    private static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
        tensors.Clear();
    }
}
