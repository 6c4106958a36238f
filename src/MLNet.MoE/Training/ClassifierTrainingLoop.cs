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

    /// <summary>Peak learning rate.</summary>
    public required double LearningRate { get; init; }

    /// <summary>Final learning rate as a fraction of the peak.</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    /// <summary>Warm-up steps.</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Decoupled weight decay.</summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Learning-rate multiplier of the backbone (the head keeps 1).</summary>
    public double BackboneLearningRateScale { get; init; } = 1.0;

    /// <summary>AdamW β1.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β2.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Global gradient-norm clip (0: off).</summary>
    public double GradientClipNorm { get; init; } = 1.0;

    /// <summary>Seed of the batch order.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Expert capacity factor during training.</summary>
    public double CapacityFactor { get; init; } = 2.0;

    /// <summary>γ of the routing-bias update.</summary>
    public double BiasUpdateRate { get; init; } = 0.001;

    /// <summary>α of the balance loss.</summary>
    public double BalanceLossWeight { get; init; }

    /// <summary>Evaluate on the validation rows every this many steps (0: at the end of every epoch).</summary>
    public int EvaluateEverySteps { get; init; }

    /// <summary>Stop after this many evaluations without a better validation loss (0: never stop early).</summary>
    public int EarlyStoppingPatience { get; init; } = 3;

    /// <summary>Report every this many steps.</summary>
    public int LogEverySteps { get; init; } = 10;

    /// <summary>Token id used for padding (never read: padded positions are masked out).</summary>
    public int PadId { get; init; }
}

/// <summary>
/// Trains a <see cref="MoeTextClassifier"/> on token-id sequences with class labels, with the language-model trainer's
/// pieces: AdamW with decoupled weight decay (none on norms and biases), warm-up + cosine decay, global-norm clipping,
/// MoE training with capacity and DeepSeek-V3's routing-bias update after every step. Batches are drawn from a
/// shuffled order and grouped by length (less padding); the validation rows are evaluated every epoch (or every
/// <see cref="ClassifierTrainingSettings.EvaluateEverySteps"/>), the weights with the best validation loss are kept,
/// and training stops when the loss has not improved for <see cref="ClassifierTrainingSettings.EarlyStoppingPatience"/> evaluations.
/// Every step runs in its own TorchSharp dispose scope.
/// </summary>
public sealed class ClassifierTrainingLoop
{
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

    /// <summary>Runs the steps over <paramref name="training"/> (labels 0..C-1); <paramref name="validation"/> may be empty (no early stopping).</summary>
    public ClassificationTrainingSummary Run(IReadOnlyList<(int[] Ids, int Label)> training, IReadOnlyList<(int[] Ids, int Label)> validation,
        Action<ClassificationProgress> report, CancellationToken cancellation = default)
    {
        if (training.Count == 0) throw new ArgumentException("No training rows.", nameof(training));
        var schedule = new LearningRateSchedule(settings.LearningRate, settings.MinLearningRateRatio, settings.WarmupSteps, settings.Steps);
        // The same flat-buffer AdamW as the language-model trainer: clipping and the non-finite guard stay on the device.
        using var optimizer = new FlatAdamW(model.OptimizerGroups(settings.WeightDecay, settings.BackboneLearningRateScale), settings.Beta1, settings.Beta2, 1e-8, device);
        var moeLayers = model.Backbone.MoeLayers().Where(m => m.Layer < model.Backbone.Config.NumHiddenLayers).ToList();
        int batchesPerEpoch = (training.Count + settings.BatchSize - 1) / settings.BatchSize;
        var random = new Random(settings.Seed);
        var history = new List<ClassificationProgress>();
        var clock = Stopwatch.StartNew();
        var windowClock = Stopwatch.StartNew();
        double lossSum = 0;
        int lossTerms = 0;
        long rowsInWindow = 0;
        double bestLoss = double.PositiveInfinity;
        double bestAccuracy = double.NaN;
        int bestStep = 0;
        int evaluationsWithoutImprovement = 0;
        bool stoppedEarly = false;
        Dictionary<string, Tensor>? best = null;
        int step = 0;
        var batches = new Queue<int[]>();
        int epoch = 0;
        try
        {
            while (step < settings.Steps)
            {
                cancellation.ThrowIfCancellationRequested();
                if (batches.Count == 0)
                {
                    epoch++;
                    foreach (var batch in EpochBatches(training, random)) batches.Enqueue(batch);
                }
                var rows = batches.Dequeue();
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
                        CapacityFactor = settings.CapacityFactor,
                        BalanceLossWeight = settings.BalanceLossWeight,
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
                        var scale = settings.GradientClipNorm > 0
                            ? (settings.GradientClipNorm / (norm + 1e-6)).clamp_max(1.0).nan_to_num(0, 0, 0)
                            : torch.ones(1, device: device);
                        optimizer.Step(lr, scale, good);
                        foreach (var (layer, moe) in moeLayers)
                        {
                            if (context.ExpertLoad.TryGetValue(layer, out var load)) moe.Router.UpdateCorrectionBias(load, settings.BiasUpdateRate, good);
                        }
                    }
                    loss = crossEntropy.item<float>();
                }
                lossSum += loss;
                lossTerms++;
                rowsInWindow += rows.Length;

                bool endOfEpoch = batches.Count == 0;
                bool evaluate = validation.Count > 0 && (settings.EvaluateEverySteps > 0 ? step % settings.EvaluateEverySteps == 0 : endOfEpoch);
                if (validation.Count > 0 && step == settings.Steps) evaluate = true;
                double? validationLoss = null;
                double? validationAccuracy = null;
                if (evaluate)
                {
                    var (vLoss, vAccuracy) = Evaluate(validation);
                    validationLoss = vLoss;
                    validationAccuracy = vAccuracy;
                    if (vLoss < bestLoss)
                    {
                        bestLoss = vLoss;
                        bestAccuracy = vAccuracy;
                        bestStep = step;
                        evaluationsWithoutImprovement = 0;
                        DisposeAll(best);
                        best = Snapshot();
                    }
                    else
                    {
                        evaluationsWithoutImprovement++;
                    }
                }
                bool stop = settings.EarlyStoppingPatience > 0 && evaluationsWithoutImprovement >= settings.EarlyStoppingPatience;
                if (step % settings.LogEverySteps == 0 || step == settings.Steps || evaluate || stop)
                {
                    var progress = new ClassificationProgress
                    {
                        Step = step,
                        TotalSteps = settings.Steps,
                        Epoch = epoch,
                        Loss = lossSum / Math.Max(1, lossTerms),
                        LearningRate = lr,
                        RowsPerSecond = rowsInWindow / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds),
                        ValidationLoss = validationLoss,
                        ValidationAccuracy = validationAccuracy,
                        Elapsed = clock.Elapsed,
                    };
                    history.Add(progress);
                    report(progress);
                    lossSum = 0;
                    lossTerms = 0;
                    rowsInWindow = 0;
                    windowClock.Restart();
                }
                if (stop)
                {
                    stoppedEarly = step < settings.Steps;
                    break;
                }
            }
            if (best != null) Restore(best);
        }
        finally
        {
            DisposeAll(best);
            model.eval();
        }
        return new ClassificationTrainingSummary
        {
            Steps = step,
            TrainingRows = training.Count,
            ValidationRows = validation.Count,
            KeptStep = best != null ? bestStep : step,
            ValidationLoss = best != null ? bestLoss : double.NaN,
            ValidationAccuracy = best != null ? bestAccuracy : double.NaN,
            StoppedEarly = stoppedEarly,
            History = history,
        };
    }

    /// <summary>Mean cross-entropy and accuracy of <paramref name="rows"/> in eval mode.</summary>
    public (double Loss, double Accuracy) Evaluate(IReadOnlyList<(int[] Ids, int Label)> rows)
    {
        model.eval();
        var probabilities = ClassifierBatches.Probabilities(model, rows.Select(r => r.Ids).ToList(), Math.Max(settings.BatchSize, 32), settings.PadId);
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

    /// <summary>One epoch's batches: a shuffled order, cut into pools of 32 batches that are sorted by length and cut into batches, in shuffled batch order.</summary>
    private List<int[]> EpochBatches(IReadOnlyList<(int[] Ids, int Label)> training, Random random)
    {
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

    private Dictionary<string, Tensor> Snapshot()
    {
        using var noGrad = torch.no_grad();
        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
    }

    private void Restore(Dictionary<string, Tensor> snapshot)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, tensor) in model.state_dict()) tensor.copy_(snapshot[name]);
    }

    private static void DisposeAll(Dictionary<string, Tensor>? tensors)
    {
        if (tensors == null) return;
        foreach (var t in tensors.Values) t.Dispose();
        tensors.Clear();
    }
}
