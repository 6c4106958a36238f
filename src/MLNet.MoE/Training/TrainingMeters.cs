using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The device-side sums of a training run: the open report window's loss, micro-batches, expert loads, dropped and made
/// token-expert assignments, and the run's skipped steps (in all and in a row). They are updated in place after every
/// step without a host synchronisation, read when a report or a checkpoint needs them, and saved in and restored from
/// <see cref="TrainingCounters"/>.
/// </summary>
internal sealed class TrainingMeters : IDisposable
{
    private readonly Tensor lossSum;
    private readonly Tensor lossTerms;
    private readonly Tensor droppedSum;
    private readonly Tensor assignments;
    private readonly Tensor skipped;
    private readonly Tensor consecutive;
    private readonly Dictionary<int, Tensor> loadSums;

    /// <summary>Zeroed sums on <paramref name="device"/> for the MoE layers <paramref name="layers"/> of <paramref name="routedExperts"/> experts each.</summary>
    public TrainingMeters(IEnumerable<int> layers, long routedExperts, Device device)
    {
        Tensor Zero() => torch.zeros(1, dtype: ScalarType.Float64, device: device);
        lossSum = Zero();
        lossTerms = Zero();
        droppedSum = Zero();
        assignments = Zero();
        skipped = Zero();
        consecutive = Zero();
        loadSums = layers.ToDictionary(layer => layer, _ => torch.zeros(routedExperts, dtype: ScalarType.Float32, device: device));
    }

    /// <summary>Adds a step: its sums count when <paramref name="applied"/> (float32 [1]) is 1, and the step counts as skipped when it is 0.</summary>
    public void Add(Tensor applied, Tensor stepLoss, int microBatches, Tensor stepDropped, long stepAssignments, IReadOnlyDictionary<int, Tensor> stepLoad)
    {
        var appliedD = applied.to(ScalarType.Float64);
        lossSum.add_(stepLoss.nan_to_num(0, 0, 0) * appliedD);
        lossTerms.add_(appliedD * microBatches);
        droppedSum.add_(stepDropped * appliedD);
        assignments.add_(appliedD * stepAssignments);
        skipped.add_(1 - appliedD);
        consecutive.add_(1).mul_(1 - appliedD);
        foreach (var (layer, load) in stepLoad) loadSums[layer].add_(load * applied);
    }

    /// <summary>Skipped steps of the run and skipped steps in a row (a host synchronisation).</summary>
    public (int Skipped, int Consecutive) SkippedSteps() => ((int)skipped.item<double>(), (int)consecutive.item<double>());

    /// <summary>
    /// Closes the report window: the mean reported loss per micro-batch (NaN when every step was skipped), the fraction of
    /// dropped assignments and, per MoE layer, the busiest expert's load over the mean and every expert's share; then zeroes the window.
    /// </summary>
    public (double Loss, double DroppedFraction, Dictionary<int, double> LoadMaxOverMean, Dictionary<int, double[]> LoadShares) TakeWindow()
    {
        double terms = lossTerms.item<double>();
        long made = (long)assignments.item<double>();
        double loss = terms > 0 ? lossSum.item<double>() / terms : double.NaN;
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
        double droppedFraction = made > 0 ? droppedSum.item<double>() / made : 0;
        lossSum.zero_();
        droppedSum.zero_();
        lossTerms.zero_();
        assignments.zero_();
        return (loss, droppedFraction, loadBalance, loadShares);
    }

    /// <summary>The sums as a checkpoint stores them, with the host-side token counts.</summary>
    public TrainingCounters ToCounters(long tokensInWindow, long tokensSeen) => new()
    {
        LossSum = lossSum.item<double>(),
        LossTerms = (int)lossTerms.item<double>(),
        DroppedSum = droppedSum.item<double>(),
        AssignmentsInWindow = (long)assignments.item<double>(),
        TokensInWindow = tokensInWindow,
        TokensSeen = tokensSeen,
        SkippedSteps = (int)skipped.item<double>(),
        ConsecutiveSkippedSteps = (int)consecutive.item<double>(),
        LoadSums = loadSums.ToDictionary(kv => kv.Key, kv => kv.Value.cpu().data<float>().ToArray()),
    };

    /// <summary>Restores the sums a checkpoint stored.</summary>
    public void Restore(TrainingCounters counters)
    {
        lossSum.fill_(counters.LossSum);
        droppedSum.fill_(counters.DroppedSum);
        lossTerms.fill_(counters.LossTerms);
        assignments.fill_(counters.AssignmentsInWindow);
        skipped.fill_(counters.SkippedSteps);
        consecutive.fill_(counters.ConsecutiveSkippedSteps);
        foreach (var (layer, sums) in counters.LoadSums)
        {
            if (loadSums.TryGetValue(layer, out var target))
            {
                using var values = torch.tensor(sums);
                target.copy_(values);
            }
        }
    }

    /// <summary>Frees the sums.</summary>
    public void Dispose()
    {
        foreach (var t in new[] { lossSum, lossTerms, droppedSum, assignments, skipped, consecutive }.Concat(loadSums.Values)) t.Dispose();
    }
}
