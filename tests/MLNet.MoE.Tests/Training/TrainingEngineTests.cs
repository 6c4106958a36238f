using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;

namespace MLNet.MoE.Tests.Training;

public class TrainingEngineTests
{
    private static List<(int Step, double Loss, string? Checkpoint)> Steps(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('{')).Select(l =>
        {
            using var json = JsonDocument.Parse(l);
            var root = json.RootElement;
            return (root.GetProperty("step").GetInt32(), root.GetProperty("loss").GetDouble(),
                root.GetProperty("checkpoint").ValueKind == JsonValueKind.Null ? null : root.GetProperty("checkpoint").GetString());
        }).ToList();

    [Fact]
    public void AProcessEndedPartWayResumesInANewProcessWithTheSameLossAtEveryLaterStep()
    {
        string corpus = TestPaths.KjvVerses;
        string reference = TestPaths.NewTempDirectory();
        var (code, output, error) = TestTools.Run("MLNet.MoE.TrainingRun", corpus, reference, "14");
        Assert.True(code == 0, error);
        var uninterrupted = Steps(output);
        Assert.Equal(Enumerable.Range(1, 14), uninterrupted.Select(s => s.Step));

        string interrupted = TestPaths.NewTempDirectory();
        (code, output, error) = TestTools.Run("MLNet.MoE.TrainingRun", corpus, interrupted, "14", "--exit-after-step", "10");
        Assert.Equal(3, code);
        var firstPart = Steps(output);
        Assert.Equal(Enumerable.Range(1, 10), firstPart.Select(s => s.Step));
        // A checkpoint every 4 steps, the newest 2 kept: steps 4 and 8.
        var kept = Directory.GetFiles(interrupted).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(new[] { "checkpoint-step00000004.moeckpt", "checkpoint-step00000008.moeckpt" }, kept);

        (code, output, error) = TestTools.Run("MLNet.MoE.TrainingRun", corpus, interrupted, "14", "--resume");
        Assert.True(code == 0, error);
        var resumed = Steps(output);
        Assert.Equal(Enumerable.Range(9, 6), resumed.Select(s => s.Step));
        foreach (var step in resumed) Assert.Equal(uninterrupted[step.Step - 1].Loss, step.Loss);
        Assert.Equal(uninterrupted.Take(10).Select(s => s.Loss), firstPart.Select(s => s.Loss));
        // Older checkpoints were pruned down to the newest two (12 and the final 14).
        Assert.Equal(new[] { "checkpoint-step00000012.moeckpt", "checkpoint-step00000014.moeckpt" }, Directory.GetFiles(interrupted).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void BFloat16ComputeTracksTheFloat32LossCurve()
    {
        double[] Curve(TrainingPrecision precision)
        {
            var ml = new MLContext(seed: 1);
            var options = Options(steps: 12);
            options.LogEverySteps = 1;
            options.Precision = precision;
            options.LearningRate = 5e-3;
            var model = Train(ml, ml.Data.LoadFromEnumerable(Verses(120)), options).LastTransformer;
            return model.TrainingSummary!.History.Where(h => h.ValidationLoss == null || h.Step == 12).Select(h => h.Loss).ToArray();
        }
        var fp32 = Curve(TrainingPrecision.Float32);
        var bf16 = Curve(TrainingPrecision.BFloat16);
        Assert.Equal(fp32.Length, bf16.Length);
        Assert.NotEqual(fp32, bf16);
        for (int i = 0; i < fp32.Length; i++)
            Assert.True(Math.Abs(fp32[i] - bf16[i]) < 0.02 * fp32[i], $"step {i + 1}: fp32 {fp32[i]:F4} bf16 {bf16[i]:F4}");
    }

    [Fact]
    public void NonFiniteStepsAreSkippedAndTooManyInARowStopTrainingNamingTheLastGoodCheckpoint()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(steps: 20);
        options.LearningRate = 1e30;
        options.WarmupSteps = 0;
        options.MaxConsecutiveSkippedSteps = 3;
        options.CheckpointDirectory = TestPaths.NewTempDirectory();
        options.CheckpointEverySteps = 1;
        var error = Assert.Throws<InvalidOperationException>(() => Train(ml, ml.Data.LoadFromEnumerable(Verses(60)), options));
        Assert.Contains("non-finite", error.Message, StringComparison.Ordinal);
        Assert.Contains("steps in a row", error.Message, StringComparison.Ordinal);
        string? latest = LanguageModelTrainingLoop.LatestCheckpoint(options.CheckpointDirectory);
        Assert.NotNull(latest);
        Assert.Contains(latest!, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CudaRequestedWithoutAGpuFailsClearlyOrFallsBackWhenAllowed()
    {
        var data = new MLContext().Data.LoadFromEnumerable(Verses(30));
        var options = Options(steps: 2);
        options.Device = ComputeDevice.Cuda;
        var strict = new MLContext(seed: 1) { FallbackToCpu = false };
        var error = Assert.Throws<InvalidOperationException>(() => Train(strict, data, options));
        Assert.Contains("CUDA", error.Message, StringComparison.Ordinal);
        Assert.Contains("FallbackToCpu", error.Message, StringComparison.Ordinal);
        var lenient = new MLContext(seed: 1) { FallbackToCpu = true };
        var model = Train(lenient, data, options).LastTransformer;
        Assert.Equal(2, model.TrainingSummary!.Steps);
        var byContext = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = false };
        options.Device = ComputeDevice.Auto;
        Assert.Throws<InvalidOperationException>(() => Train(byContext, data, options));
    }

    [Fact]
    public void ResumingOnOtherDataIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(steps: 4);
        options.CheckpointDirectory = TestPaths.NewTempDirectory();
        options.CheckpointEverySteps = 2;
        Train(ml, ml.Data.LoadFromEnumerable(Verses(40)), options);
        var resumed = Options(steps: 8);
        resumed.ResumeFrom = options.CheckpointDirectory;
        var error = Assert.Throws<InvalidOperationException>(() => Train(ml, ml.Data.LoadFromEnumerable(Verses(50)), resumed));
        Assert.Contains("other training data", error.Message, StringComparison.Ordinal);
    }
}
