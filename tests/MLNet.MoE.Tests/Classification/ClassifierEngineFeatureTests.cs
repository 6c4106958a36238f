using Microsoft.ML;
using TorchSharp;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>The training engine's accumulation, precision, recomputation and resume, as the classifier trainer uses them.</summary>
public class ClassifierEngineFeatureTests
{
    /// <summary>Rows of one length (no padding, so a batch and its halves route the same tokens), two classes.</summary>
    private static List<(int[] Ids, int[] Ngrams, int Label)> Rows(int count, int length = 12)
    {
        var random = new Random(7);
        return Enumerable.Range(0, count).Select(i =>
        {
            int label = i % 2;
            var ids = Enumerable.Range(0, length).Select(_ => random.Next(1, 40) + label * 40).ToArray();
            return (ids, Array.Empty<int>(), label);
        }).ToList();
    }

    private static TextClassificationTrainingSettings Settings(int steps, int accumulation = 1, bool recompute = false, torch.ScalarType computeType = torch.ScalarType.Float32) => new()
    {
        BatchSize = 8,
        GradientAccumulationSteps = accumulation,
        Steps = steps,
        Optimizer = new OptimizerSettings { LearningRate = 1e-3, MinLearningRateRatio = 1, WarmupSteps = 0, WeightDecay = 0.01, Beta2 = 0.999 },
        RecomputeActivations = recompute,
        ComputeType = computeType,
        Routing = new MoeRoutingSettings { CapacityFactor = 64 },
        EarlyStoppingPatience = 0,
        LogEverySteps = 1,
    };

    private static (Dictionary<string, float[]> Weights, List<TextClassificationProgress> Reports) Train(TextClassificationTrainingSettings settings, List<(int[] Ids, int[] Ngrams, int Label)> rows)
    {
        torch.manual_seed(11);
        using var model = new MoeTextClassifier(new MoeCausalLM(TinyConfig, seed: 4), 2, TextPooling.Mean, dropoutRate: 0, seed: 5);
        var reports = new List<TextClassificationProgress>();
        new TextClassificationTrainingLoop(model, settings, torch.CPU).Run(rows, Array.Empty<(int[], int[], int)>(), reports.Add);
        var weights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to(torch.ScalarType.Float32).cpu().data<float>().ToArray());
        return (weights, reports);
    }

    private static double MaxDifference(Dictionary<string, float[]> a, Dictionary<string, float[]> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        return a.Max(kv => kv.Value.Zip(b[kv.Key], (x, y) => Math.Abs((double)x - y)).DefaultIfEmpty(0).Max());
    }

    [Fact]
    public void TwoAccumulatedMicroBatchesUpdateAsOneBatchOfTwiceTheSize()
    {
        var rows = Rows(8);
        var (initial, _) = Train(Settings(steps: 1) with { Optimizer = Settings(1).Optimizer with { LearningRate = 1e-30 } }, rows);
        var (whole, wholeReports) = Train(Settings(steps: 1), rows);
        var (accumulated, accumulatedReports) = Train(Settings(steps: 1, accumulation: 2), rows);

        // The step moved the weights by about the learning rate; both ways of computing its gradient move them alike.
        Assert.True(MaxDifference(initial, whole) > 5e-4, "the step did not change the weights");
        Assert.True(MaxDifference(whole, accumulated) < 1e-5, $"weights differ by {MaxDifference(whole, accumulated)}");
        Assert.Equal(wholeReports.Single().Loss, accumulatedReports.Single().Loss, 5);
    }

    [Fact]
    public void RecomputingActivationsGivesTheSameTraining()
    {
        var rows = Rows(16, length: 10);
        var (stored, storedReports) = Train(Settings(steps: 3), rows);
        var (recomputed, recomputedReports) = Train(Settings(steps: 3, recompute: true), rows);
        Assert.True(MaxDifference(stored, recomputed) < 1e-6, $"weights differ by {MaxDifference(stored, recomputed)}");
        Assert.Equal(storedReports.Select(r => r.Loss), recomputedReports.Select(r => r.Loss), (x, y) => Math.Abs(x - y) < 1e-6);
    }

    [Fact]
    public void BFloat16ActivationsTrainWithFiniteLossesAndFloat32Weights()
    {
        var rows = Rows(16);
        var (float32, float32Reports) = Train(Settings(steps: 6), rows);
        var (bf16, bf16Reports) = Train(Settings(steps: 6, computeType: torch.ScalarType.BFloat16), rows);
        Assert.All(bf16Reports, r => Assert.True(double.IsFinite(r.Loss), $"step {r.Step}: loss {r.Loss}"));
        Assert.All(bf16.Values, w => Assert.All(w, v => Assert.True(float.IsFinite(v))));
        // bfloat16 activations change the numbers a little, not the course of training.
        Assert.NotEqual(float32Reports.Select(r => r.Loss), bf16Reports.Select(r => r.Loss));
        for (int i = 0; i < float32Reports.Count; i++) Assert.Equal(float32Reports[i].Loss, bf16Reports[i].Loss, 0.05);
    }

    [Fact]
    public void TheTrainerPassesPrecisionAccumulationAndRecomputationToTheEngine()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(epochs: 1);
        options.Precision = TrainingPrecision.BFloat16;
        options.GradientAccumulationSteps = 4;
        options.RecomputeActivations = true;
        var reports = new List<TextClassificationProgress>();
        options.Progress = new SyncProgress<TextClassificationProgress>(reports.Add);
        using var classifier = Classifier(ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(48))));
        Assert.NotEmpty(reports);
        Assert.All(reports, r => Assert.True(double.IsFinite(r.Loss)));
        Assert.All(classifier.Model.parameters(), p => Assert.Equal(torch.ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void AnAccumulatedRunResumedMidwayEndsWithTheWeightsOfAnUninterruptedRun()
    {
        var rows = Rows(24);
        string first = TestPaths.NewTempDirectory(), second = TestPaths.NewTempDirectory();
        var settings = Settings(steps: 6, accumulation: 2) with { CheckpointEverySteps = 2, KeepCheckpoints = 10 };
        var (full, fullReports) = Train(settings with { CheckpointDirectory = first }, rows);
        string middle = Path.Combine(first, "classifier-step00000004.moeckpt");
        Assert.Equal(middle, fullReports.Single(r => r.Step == 4).CheckpointPath);

        var (resumed, resumedReports) = Train(settings with { CheckpointDirectory = second, ResumeFrom = middle }, rows);
        foreach (var (name, values) in full) Assert.True(values.SequenceEqual(resumed[name]), $"tensor {name} differs after resuming");
        Assert.Equal(fullReports.Where(r => r.Step > 4).Select(r => (r.Step, r.Loss)), resumedReports.Where(r => r.Step > 4).Select(r => (r.Step, r.Loss)));
    }

    [Theory]
    [InlineData(nameof(MoeTextClassificationOptions.GradientAccumulationSteps))]
    [InlineData(nameof(MoeTextClassificationOptions.Precision))]
    [InlineData(nameof(MoeTextClassificationOptions.MaxConsecutiveSkippedSteps))]
    public void EngineOptionsAreChecked(string option)
    {
        var options = Options();
        switch (option)
        {
            case nameof(MoeTextClassificationOptions.GradientAccumulationSteps): options.GradientAccumulationSteps = 3; break; // does not divide 16
            case nameof(MoeTextClassificationOptions.Precision): options.Precision = (TrainingPrecision)42; break;
            default: options.MaxConsecutiveSkippedSteps = 0; break;
        }
        var error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(option, error.ParamName);
        Assert.Contains($"MoeTextClassificationOptions.{option}", error.Message);
    }
}
