using Microsoft.ML;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>Training checkpoints of the text classifier: written atomically and periodically, resumed exactly, refused on other data.</summary>
public class ClassifierCheckpointTests
{
    private static MoeTextClassificationOptions CheckpointedOptions(string directory, int keep = 10)
    {
        var options = Options(epochs: 3);
        options.EarlyStoppingPatience = 0;
        options.TrainingCheckpointDirectory = directory;
        options.CheckpointEverySteps = 3;
        options.KeepCheckpoints = keep;
        return options;
    }

    private static (Dictionary<string, float[]> Weights, List<TextClassificationProgress> Reports) Train(MoeTextClassificationOptions options, IEnumerable<Review> rows)
    {
        var ml = new MLContext(seed: 1);
        var reports = new List<TextClassificationProgress>();
        options.Progress = new SyncProgress<TextClassificationProgress>(reports.Add);
        var classifier = Classifier(ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(rows.ToList())));
        try
        {
            var weights = classifier.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.cpu().data<float>().ToArray());
            return (weights, reports);
        }
        finally
        {
            classifier.Dispose();
        }
    }

    [Fact]
    public void ResumingMidEpochEndsWithTheWeightsOfAnUninterruptedRun()
    {
        string first = TestPaths.NewTempDirectory(), second = TestPaths.NewTempDirectory();
        var (full, fullReports) = Train(CheckpointedOptions(first), Reviews(64));
        var files = Directory.GetFiles(first, "*.moeckpt").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        // 52 training rows in batches of 16: 4 batches an epoch, 12 steps; a checkpoint every 3 steps.
        Assert.Equal(new[] { "classifier-step00000003.moeckpt", "classifier-step00000006.moeckpt", "classifier-step00000009.moeckpt", "classifier-step00000012.moeckpt" }, files);
        Assert.Equal(Path.Combine(first, "classifier-step00000006.moeckpt"), fullReports.Single(r => r.Step == 6).CheckpointPath);

        // Step 6 is in the middle of the second epoch, after one evaluation.
        string middle = Path.Combine(first, "classifier-step00000006.moeckpt");
        var header = TextClassificationCheckpoint.ReadHeader(middle);
        Assert.Equal((6, 2, 2), (header.Step, header.Epoch, header.BatchesDoneInEpoch));
        Assert.Equal(4, header.State.BestStep);

        var resumedOptions = CheckpointedOptions(second);
        resumedOptions.ResumeFrom = middle;
        var (resumed, resumedReports) = Train(resumedOptions, Reviews(64));

        Assert.Equal(full.Keys, resumed.Keys);
        foreach (var (name, values) in full) Assert.True(values.SequenceEqual(resumed[name]), $"tensor {name} differs after resuming");
        var after = fullReports.Where(r => r.Step > 6).Select(r => (r.Step, r.Loss, r.ValidationLoss)).ToList();
        Assert.Equal(after, resumedReports.Where(r => r.Step > 6).Select(r => (r.Step, r.Loss, r.ValidationLoss)).ToList());
        Assert.Equal(new[] { "classifier-step00000009.moeckpt", "classifier-step00000012.moeckpt" },
            Directory.GetFiles(second, "*.moeckpt").Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void OnlyTheNewestCheckpointsAreKept()
    {
        string directory = TestPaths.NewTempDirectory();
        Train(CheckpointedOptions(directory, keep: 2), Reviews(64));

        Assert.Equal(new[] { "classifier-step00000009.moeckpt", "classifier-step00000012.moeckpt" },
            Directory.GetFiles(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ACheckpointIsNotResumedOnOtherRowsOrAfterItsRunEnded()
    {
        string directory = TestPaths.NewTempDirectory();
        Train(CheckpointedOptions(directory), Reviews(64));

        var otherRows = CheckpointedOptions(TestPaths.NewTempDirectory());
        otherRows.ResumeFrom = Path.Combine(directory, "classifier-step00000006.moeckpt");
        var error = Assert.Throws<InvalidOperationException>(() => Train(otherRows, Reviews(65)));
        Assert.Contains("classifier-step00000006.moeckpt", error.Message);
        Assert.Contains("other rows", error.Message);

        // A folder resumes its newest checkpoint: here the last step, so nothing is left.
        var finished = CheckpointedOptions(TestPaths.NewTempDirectory());
        finished.ResumeFrom = directory;
        error = Assert.Throws<InvalidOperationException>(() => Train(finished, Reviews(64)));
        Assert.Contains("nothing is left to train", error.Message);
    }

    [Fact]
    public void ATruncatedCheckpointIsRefusedWithItsPath()
    {
        string directory = TestPaths.NewTempDirectory();
        Train(CheckpointedOptions(directory), Reviews(64));
        string truncated = Path.Combine(TestPaths.NewTempDirectory(), "truncated.moeckpt");
        byte[] bytes = File.ReadAllBytes(Path.Combine(directory, "classifier-step00000006.moeckpt"));
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        var options = CheckpointedOptions(TestPaths.NewTempDirectory());
        options.ResumeFrom = truncated;
        var error = Assert.Throws<InvalidDataException>(() => Train(options, Reviews(64)));
        Assert.Contains(truncated, error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void CheckpointOptionsAreChecked()
    {
        var options = Options();
        options.ResumeFrom = Path.Combine(TestPaths.NewTempDirectory(), "missing.moeckpt");
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate());
        Assert.Equal(nameof(MoeTextClassificationOptions.ResumeFrom), error.ParamName);

        options = Options();
        options.KeepCheckpoints = 0;
        Assert.Equal(nameof(MoeTextClassificationOptions.KeepCheckpoints), Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate()).ParamName);
    }
}
