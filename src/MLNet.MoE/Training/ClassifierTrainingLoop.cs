using System.Diagnostics;
using MLNet.MoE.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE.Training;

/// <summary>Settings of one classifier training run (a plain copy of the trainer options that matter to the loop).</summary>
public sealed record ClassifierTrainingSettings
{
    /// <summary>Rows per optimizer step.</summary>
    public required int BatchSize { get; init; }

    /// <summary>Optimizer steps planned.</summary>
    public required int Steps { get; init; }

    /// <summary>Learning-rate schedule, AdamW and gradient clipping.</summary>
    public required OptimizerSettings Optimizer { get; init; }

    /// <summary>Learning-rate multiplier of the backbone (the head keeps 1).</summary>
    public double BackboneLearningRateScale { get; init; } = 1.0;

    /// <summary>Seed of the batch order.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>MoE routing during training: capacity, routing-bias update and balance loss.</summary>
    public MoeRoutingSettings Routing { get; init; } = new();

    /// <summary>Evaluate on the validation rows every this many steps (0: at the end of every epoch).</summary>
    public int EvaluateEverySteps { get; init; }

    /// <summary>Stop after this many evaluations without a better validation loss (0: never stop early).</summary>
    public int EarlyStoppingPatience { get; init; } = 3;

    /// <summary>Report every this many steps.</summary>
    public int LogEverySteps { get; init; } = 10;

    /// <summary>Token id used for padding (never read: padded positions are masked out).</summary>
    public int PadId { get; init; }

    /// <summary>Folder of training checkpoints, or null for none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Write a checkpoint every this many steps, and at the last step (0: never).</summary>
    public int CheckpointEverySteps { get; init; }

    /// <summary>Checkpoints to keep; older ones are deleted.</summary>
    public int KeepCheckpoints { get; init; } = 3;

    /// <summary>A checkpoint file to continue from, or null to start fresh.</summary>
    public string? ResumeFrom { get; init; }

    /// <summary>The ensemble member (1-based) this run trains, stamped on its progress reports.</summary>
    public int Member { get; init; } = 1;

    /// <summary>Fused kernels or managed code per operation, and how the routed experts compute (from the start-up probe). Default: all managed, capacity-padded experts.</summary>
    public KernelSet Kernels { get; init; } = KernelSet.Managed;
}

/// <summary>
/// Trains a <see cref="MoeTextClassifier"/> on token-id sequences with class labels, with the language-model trainer's
/// pieces: AdamW with decoupled weight decay (none on norms and biases), warm-up + cosine decay, global-norm clipping,
/// MoE training with capacity and DeepSeek-V3's routing-bias update after every step. Batches are drawn from a
/// shuffled order and grouped by length (less padding); the validation rows are evaluated every epoch (or every
/// <see cref="ClassifierTrainingSettings.EvaluateEverySteps"/>), the weights with the best validation loss are kept,
/// and training stops when the loss has not improved for <see cref="ClassifierTrainingSettings.EarlyStoppingPatience"/> evaluations.
/// Periodic atomic checkpoints (<see cref="ClassifierCheckpoint"/>) let a later run continue exactly where one stopped.
/// Every step runs in its own TorchSharp dispose scope.
/// </summary>
public sealed class ClassifierTrainingLoop
{
    private const string CheckpointPrefix = "classifier-step";

    private readonly MoeTextClassifier model;
    private readonly ClassifierTrainingSettings settings;
    private readonly Device device;

    /// <summary>Creates the loop for a model already on <paramref name="device"/>.</summary>
    public ClassifierTrainingLoop(MoeTextClassifier model, ClassifierTrainingSettings settings, Device device)
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
    /// early stopping). With <see cref="ClassifierTrainingSettings.ResumeFrom"/> it continues that checkpoint's run, which
    /// must have been made with the same architecture, rows and settings.
    /// </summary>
    public ClassificationTrainingSummary Run(IReadOnlyList<(int[] Ids, int Label)> training, IReadOnlyList<(int[] Ids, int Label)> validation,
        Action<ClassificationProgress> report, CancellationToken cancellation = default)
    {
        if (training.Count == 0) throw new ArgumentException("No training rows.", nameof(training));
        var schedule = new LearningRateSchedule(settings.Optimizer.LearningRate, settings.Optimizer.MinLearningRateRatio, settings.Optimizer.WarmupSteps, settings.Steps);
        // The same flat-buffer AdamW as the language-model trainer: clipping and the non-finite guard stay on the device.
        using var optimizer = new FlatAdamW(model.OptimizerGroups(settings.Optimizer.WeightDecay, settings.BackboneLearningRateScale), settings.Optimizer.Beta1, settings.Optimizer.Beta2, 1e-8, device, settings.Kernels);
        var moeLayers = model.Backbone.MoeLayers().Where(m => m.Layer < model.Backbone.Config.NumHiddenLayers).ToList();
        var fingerprint = Fingerprint(training, validation);
        var history = new List<ClassificationProgress>();
        var state = new ClassifierTrainingState();
        var best = new Dictionary<string, Tensor>();
        int step = 0;
        int epoch = 0;
        int batchesDone = 0;
        List<int[]> epochBatches = new();
        bool stoppedEarly = false;
        try
        {
            if (settings.ResumeFrom is { } resume)
            {
                var header = ClassifierCheckpoint.ReadHeader(resume);
                CheckResumable(header, resume, fingerprint);
                ClassifierCheckpoint.Read(resume, model, best, optimizer);
                state = header.State;
                history.AddRange(header.History.Select(p => p with { Member = settings.Member }));
                step = header.Step;
                epoch = header.Epoch;
                batchesDone = header.BatchesDoneInEpoch;
                if (epoch > 0) epochBatches = EpochBatches(training, epoch);
            }
            var clock = Stopwatch.StartNew();
            var windowClock = Stopwatch.StartNew();
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
                double lr = schedule.At(step);
                double loss;
                using (var scope = torch.NewDisposeScope())
                {
                    optimizer.ZeroGrad();
                    var (ids, lengths) = ClassifierBatches.Pad(rows.Select(i => training[i].Ids).ToList(), settings.PadId, device);
                    var labels = torch.tensor(rows.Select(i => (long)training[i].Label).ToArray(), device: device);
                    using var context = new ForwardContext
                    {
                        Training = true,
                        CapacityFactor = settings.Routing.CapacityFactor,
                        BalanceLossWeight = settings.Routing.BalanceLossWeight,
                        Kernels = settings.Kernels,
                    };
                    var crossEntropy = nn.functional.cross_entropy(model.Forward(ids, lengths, context), labels);
                    var total = crossEntropy;
                    foreach (var balance in context.BalanceLosses) total = total + balance;
                    total.backward();
                    using (torch.no_grad())
                    {
                        // A step whose loss or gradient is not finite is masked out on the device (no update).
                        var norm = optimizer.GradientNorm();
                        var good = norm.isfinite().logical_and(total.detach().isfinite()).to(ScalarType.Float32).reshape(1);
                        var scale = settings.Optimizer.GradientClipNorm > 0
                            ? (settings.Optimizer.GradientClipNorm / (norm + 1e-6)).clamp_max(1.0).nan_to_num(0, 0, 0)
                            : torch.ones(1, device: device);
                        optimizer.Step(lr, scale, good);
                        foreach (var (layer, moe) in moeLayers)
                        {
                            if (context.ExpertLoad.TryGetValue(layer, out var load)) moe.Router.UpdateCorrectionBias(load, settings.Routing.BiasUpdateRate, good);
                        }
                    }
                    loss = crossEntropy.item<float>();
                }
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
                ClassificationProgress? progress = null;
                if (step % settings.LogEverySteps == 0 || step == settings.Steps || evaluate || stop)
                {
                    progress = new ClassificationProgress
                    {
                        Member = settings.Member,
                        Step = step,
                        TotalSteps = settings.Steps,
                        Epoch = epoch,
                        Loss = state.LossSum / Math.Max(1, state.LossTerms),
                        LearningRate = lr,
                        RowsPerSecond = state.RowsInWindow / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds),
                        ValidationLoss = validationLoss,
                        ValidationAccuracy = validationAccuracy,
                        Elapsed = state.Elapsed + clock.Elapsed,
                    };
                    history.Add(progress);
                    state.LossSum = 0;
                    state.LossTerms = 0;
                    state.RowsInWindow = 0;
                    windowClock.Restart();
                }
                if (settings.CheckpointDirectory != null && settings.CheckpointEverySteps > 0 && (step % settings.CheckpointEverySteps == 0 || step == settings.Steps || stop))
                {
                    string path = WriteCheckpoint(step, epoch, batchesDone, state with { Elapsed = state.Elapsed + clock.Elapsed }, history, best, optimizer, fingerprint);
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
    private ClassificationTrainingSummary Summary(int step, ClassifierTrainingState state, bool stoppedEarly, IReadOnlyList<ClassificationProgress> history,
        IReadOnlyList<(int[] Ids, int Label)> training, IReadOnlyList<(int[] Ids, int Label)> validation)
    {
        bool kept = state.BestStep > 0;
        return new ClassificationTrainingSummary
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
    private bool Finished(ClassifierCheckpoint checkpoint) =>
        checkpoint.Step >= settings.Steps || PatienceRunOut(checkpoint.State);

    /// <summary>Whether early stopping ends the run: as many evaluations without improvement as the patience allows.</summary>
    private bool PatienceRunOut(ClassifierTrainingState state) =>
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
    /// null when the run has steps left (resume it with <see cref="ClassifierTrainingSettings.ResumeFrom"/>). The checkpoint
    /// must come from a run of the same architecture on the same rows.
    /// </summary>
    public ClassificationTrainingSummary? TryLoadFinished(string path, IReadOnlyList<(int[] Ids, int Label)> training, IReadOnlyList<(int[] Ids, int Label)> validation)
    {
        var header = ClassifierCheckpoint.ReadHeader(path);
        CheckSameRun(header, path, Fingerprint(training, validation));
        if (header.Step > settings.Steps)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' is at step {header.Step}; this run has only {settings.Steps} steps. Resume with the same epochs and batch size.");
        if (!Finished(header)) return null;
        var best = new Dictionary<string, Tensor>();
        try
        {
            ClassifierCheckpoint.Read(path, model, best, optimizer: null);
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

    private void CheckSameRun(ClassifierCheckpoint checkpoint, string path, DataFingerprint fingerprint)
    {
        if (checkpoint.ConfigJson != model.Backbone.Config.ToJson() || checkpoint.ClassCount != model.ClassCount || checkpoint.Pooling != model.Pooling || checkpoint.HeadHiddenSize != model.HeadHiddenSize)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' was made for another classifier ({checkpoint.ClassCount} classes, {checkpoint.Pooling} pooling, head hidden size {checkpoint.HeadHiddenSize}, or another backbone config); this run trains {model.ClassCount} classes with {model.Pooling} pooling and head hidden size {model.HeadHiddenSize}. Resume with the same backbone and options.");
        if (checkpoint.Data != fingerprint)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' was made on other rows (fingerprint {checkpoint.Data.Length} values, hash {checkpoint.Data.Hash:x16}); this run has {fingerprint.Length} values, hash {fingerprint.Hash:x16}. Resume with the same data, tokenizer, seed and validation fraction.");
    }

    private void CheckResumable(ClassifierCheckpoint checkpoint, string path, DataFingerprint fingerprint)
    {
        CheckSameRun(checkpoint, path, fingerprint);
        if (checkpoint.Step >= settings.Steps)
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' is at step {checkpoint.Step}; this run has only {settings.Steps} steps: nothing is left to train.");
        if (PatienceRunOut(checkpoint.State))
            throw new InvalidOperationException($"Classifier training checkpoint '{path}' ends a run that stopped early at step {checkpoint.Step}: nothing is left to train.");
    }

    private string WriteCheckpoint(int step, int epoch, int batchesDone, ClassifierTrainingState state, List<ClassificationProgress> history,
        Dictionary<string, Tensor> best, FlatAdamW optimizer, DataFingerprint fingerprint)
    {
        string directory = settings.CheckpointDirectory!;
        Directory.CreateDirectory(directory);
        string path = CheckpointFiles.PathFor(directory, CheckpointPrefix, step);
        var checkpoint = new ClassifierCheckpoint
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
        checkpoint.Write(path, model, best.Count > 0 ? best : null, optimizer);
        CheckpointFiles.Prune(directory, CheckpointPrefix, settings.KeepCheckpoints);
        return path;
    }

    /// <summary>Mean cross-entropy and accuracy of <paramref name="rows"/> in eval mode.</summary>
    public (double Loss, double Accuracy) Evaluate(IReadOnlyList<(int[] Ids, int Label)> rows)
    {
        model.eval();
        return Score(ClassifierBatches.Probabilities(model, rows.Select(r => r.Ids).ToList(), Math.Max(settings.BatchSize, 32), settings.PadId), rows);
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
