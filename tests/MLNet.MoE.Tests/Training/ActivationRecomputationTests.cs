using MLNet.MoE.Tests.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Training;

/// <summary>Recomputing block activations in the backward pass changes memory, not results.</summary>
public class ActivationRecomputationTests
{
    // Three blocks (one dense, two MoE), a balance loss weighted heavily so that a lost gradient of it would show, a
    // capacity small enough to drop assignments, and an MTP module (not recomputed) on top.
    private static MoeModelConfig Config => SmallModels.Base with { NumHiddenLayers = 3, NumNextnPredictLayers = 1 };

    /// <summary>Precision, and how many of the last blocks keep their activations (the rest are recomputed).</summary>
    public static TheoryData<string, int> Cases => new() { { "fp32", 0 }, { "bf16", 0 }, { "fp32", 1 }, { "bf16", 2 } };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientsLossAndExpertStatisticsEqualThoseOfTheStoredActivations(string precision, int lastBlocksNotRecomputed)
    {
        var computeType = precision == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
        using var model = SmallModels.RandomModel(Config);
        model.train();
        var ids = SmallModels.RandomIds(Config, 3, 24, seed: 11);
        var targets = SmallModels.RandomIds(Config, 3, 24, seed: 12);

        var stored = Step(model, ids, targets, computeType, recompute: false);
        var recomputed = Step(model, ids, targets, computeType, recompute: true, lastBlocksNotRecomputed);

        Assert.Equal(stored.Loss, recomputed.Loss);
        Assert.Equal(stored.Loads.Keys.Order(), recomputed.Loads.Keys.Order());
        foreach (var (layer, load) in stored.Loads) Assert.Equal(load, recomputed.Loads[layer]);
        Assert.Equal(stored.Dropped, recomputed.Dropped);
        Assert.True(stored.Dropped.Values.Sum() > 0, "the capacity should drop some assignments in this test");
        Assert.Equal(stored.Gradients.Keys.Order(), recomputed.Gradients.Keys.Order());
        foreach (var (name, gradient) in stored.Gradients)
        {
            var other = recomputed.Gradients[name];
            double scale = Math.Max(1e-3, gradient.Max(Math.Abs));
            double difference = gradient.Zip(other, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(difference <= 1e-5 * scale, $"{name}: gradients differ by {difference} (scale {scale})");
        }
        foreach (var gradient in stored.Gradients.Values) Assert.Contains(gradient, g => g != 0);
    }

    [Fact]
    public void TrainingFollowsTheSameLossCurveWithAFlatTensorCount()
    {
        var stream = Enumerable.Range(0, 4000).Select(i => (i * 7 + i / 13) % Config.VocabSize).ToArray();
        var (plain, _) = Train(stream, recompute: false);
        var (recomputed, counts) = Train(stream, recompute: true);
        var (partly, partlyCounts) = Train(stream, recompute: true, lastBlocksNotRecomputed: 1);

        Assert.Equal(plain.Select(p => p.Loss), recomputed.Select(p => p.Loss));
        Assert.Equal(plain.Select(p => p.Loss), partly.Select(p => p.Loss));
        Assert.True(counts.Skip(1).All(c => c == counts[1]), string.Join(", ", counts));
        Assert.True(partlyCounts.Skip(1).All(c => c == partlyCounts[1]), string.Join(", ", partlyCounts));
    }

    [Fact]
    public void BlocksNotRecomputedAreCountedInTheMemoryEstimateAndANegativeCountIsRefused()
    {
        var config = SmallModels.Base with { NumHiddenLayers = 6 };
        double Estimate(bool recompute, int kept) =>
            ActivationMemory.ForTraining(config, rows: 8, window: 64, validationRows: 0, validationWindow: 0, bytesPerValue: 2, recompute, kept, scoresMaterialized: false).TotalBytes;
        double[] byKept = Enumerable.Range(0, 7).Select(k => Estimate(true, k)).ToArray();
        // The first kept block costs no more than recomputing one block; each further one costs a block's activations.
        Assert.True(byKept[1] <= byKept[0] + 1, $"{byKept[1]} against {byKept[0]}");
        for (int k = 2; k < byKept.Length; k++) Assert.True(byKept[k] > byKept[k - 1], $"{k} kept blocks: {byKept[k]} against {byKept[k - 1]}");
        Assert.True(byKept[6] <= Estimate(false, 0), "keeping every block needs no more than not recomputing at all");
        Assert.Equal(byKept[6], Estimate(true, 60));

        var options = new LanguageModelOptions { LastBlocksNotRecomputed = -1 };
        var error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(nameof(LanguageModelOptions.LastBlocksNotRecomputed), error.ParamName);
        Assert.Contains("LanguageModelOptions.LastBlocksNotRecomputed must not be negative", error.Message, StringComparison.Ordinal);
    }

    private static (List<LanguageModelProgress> Reports, List<long> LiveTensors) Train(int[] stream, bool recompute, int lastBlocksNotRecomputed = 0)
    {
        using var model = SmallModels.RandomModel(Config);
        var settings = new LanguageModelTrainingSettings
        {
            ContextLength = 16,
            BatchSize = 4,
            Steps = 12,
            Optimizer = new OptimizerSettings { LearningRate = 3e-3, WarmupSteps = 2 },
            LogEverySteps = 1,
            Routing = new MoeRoutingSettings { BalanceLossWeight = 0.01, CapacityFactor = 1.0 },
            RecomputeActivations = recompute,
            LastBlocksNotRecomputed = lastBlocksNotRecomputed,
        };
        var reports = new List<LanguageModelProgress>();
        var counts = new List<long>();
        new LanguageModelTrainingLoop(model, settings, torch.CPU).Run(stream, Array.Empty<int>(), p =>
        {
            reports.Add(p);
            counts.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        });
        return (reports, counts);
    }

    private static (float Loss, Dictionary<int, long[]> Loads, Dictionary<int, long> Dropped, Dictionary<string, float[]> Gradients) Step(
        MoeCausalLM model, Tensor ids, Tensor targets, ScalarType computeType, bool recompute, int lastBlocksNotRecomputed = 0)
    {
        foreach (var parameter in model.parameters()) parameter.grad = null;
        using var scope = torch.NewDisposeScope();
        using var context = new ForwardContext
        {
            Training = true,
            ComputeType = computeType,
            CapacityFactor = 1.0,
            BalanceLossWeight = 1.0,
            RecomputeActivations = recompute,
            LastBlocksNotRecomputed = lastBlocksNotRecomputed,
        };
        var (total, _, routing) = model.Loss(ids, targets, context, mtpWeight: 0.3);
        total.backward();
        var loads = routing.Layers.ToDictionary(l => l.Layer, l => l.Load.to(ScalarType.Int64).data<long>().ToArray());
        var dropped = routing.Layers.ToDictionary(l => l.Layer, l => l.Dropped.to(ScalarType.Int64).item<long>());
        var gradients = model.named_parameters()
            .Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.to(ScalarType.Float32).data<float>().ToArray());
        return (total.to(ScalarType.Float32).item<float>(), loads, dropped, gradients);
    }
}
