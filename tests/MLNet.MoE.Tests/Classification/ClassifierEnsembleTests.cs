using Microsoft.ML;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>Ensembles of text classifiers (EnsembleSize): members as single runs of consecutive seeds, averaged probabilities, zip round trip, checkpoints.</summary>
public class ClassifierEnsembleTests
{
    private static MoeTextClassificationOptions EnsembleOptions(int size, int seed = 3)
    {
        var options = Options(epochs: 2);
        options.EnsembleSize = size;
        options.Seed = seed;
        return options;
    }

    private static Dictionary<string, float[]> Weights(MLNet.MoE.MoeTextClassifier model) =>
        model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.cpu().data<float>().ToArray());

    [Fact]
    public void EachMemberIsTheSingleClassifierOfItsSeedAndTheEnsembleAveragesTheirProbabilities()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Reviews(64));
        var reports = new List<TextClassificationProgress>();
        var options = EnsembleOptions(2);
        options.Progress = new SyncProgress<TextClassificationProgress>(reports.Add);
        using var ensemble = Classifier(ClassifierPipeline(ml, options).Fit(data));
        Assert.Equal(2, ensemble.Members.Count);

        Assert.NotEqual(Weights(ensemble.Members[0])["head.weight"], Weights(ensemble.Members[1])["head.weight"]);

        // The ensemble's probabilities are the mean of its members'.
        var texts = Reviews(80).Skip(64).Select(r => r.Text).ToList();
        var sequences = texts.Select(t => ensemble.Encode(t)).ToList();
        var mean = ensemble.PredictProbabilities(sequences);
        var first = TextClassificationBatches.Probabilities(ensemble.Members[0], sequences, null, 8, ensemble.Tokenizer.EndOfTextId);
        var second = TextClassificationBatches.Probabilities(ensemble.Members[1], sequences, null, 8, ensemble.Tokenizer.EndOfTextId);
        for (int i = 0; i < texts.Count; i++)
        {
            for (int c = 0; c < 2; c++) Assert.Equal((first[i][c] + second[i][c]) / 2, mean[i][c], 6);
        }
        Assert.Contains(texts.Select((t, i) => i), i => Math.Abs(first[i][1] - second[i][1]) > 1e-4);

        // The summary: every member's steps and reports, each report naming its member; the ensemble's own validation figures.
        var summary = ensemble.TrainingSummary!;
        Assert.Equal(2, summary.Members.Count);
        Assert.Equal(summary.Members.Sum(m => m.Steps), summary.Steps);
        Assert.Equal(0, summary.KeptStep);
        Assert.InRange(summary.ValidationLoss, 0, 10);
        Assert.Equal(new[] { 1, 2 }, reports.Select(r => r.Member).Distinct().Order());
        Assert.Equal(reports.Count, summary.History.Count);
    }

    [Fact]
    public void AMemberEqualsTheSingleClassifierOfItsSeedWithoutAValidationSplit()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Reviews(48));
        var options = EnsembleOptions(2);
        options.ValidationFraction = 0;
        using var ensemble = Classifier(ClassifierPipeline(ml, options).Fit(data));
        var single = EnsembleOptions(1, seed: 4);
        single.ValidationFraction = 0;
        using var seedFour = Classifier(ClassifierPipeline(new MLContext(seed: 1), single).Fit(data));

        var expected = Weights(seedFour.Model);
        var member = Weights(ensemble.Members[1]);
        foreach (var (name, values) in expected) Assert.True(values.SequenceEqual(member[name]), $"tensor {name} of member 2 differs from the seed-4 classifier");
    }

    [Fact]
    public void AnEnsembleIsSavedAndLoadedWithEveryMember()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Reviews(48));
        var options = EnsembleOptions(3);
        options.ValidationFraction = 0;
        options.Epochs = 1;
        var model = ClassifierPipeline(ml, options).Fit(data);
        string path = Path.Combine(TestPaths.NewTempDirectory(), "ensemble.zip");
        ml.Model.Save(model, data.Schema, path);
        var loaded = ml.Model.Load(path, out _);
        using var before = Classifier(model);
        using var after = Classifier(loaded);

        Assert.Equal(3, after.Members.Count);
        var sequences = Reviews(60).Skip(48).Select(r => before.Encode(r.Text)).ToList();
        var expected = before.PredictProbabilities(sequences);
        var actual = after.PredictProbabilities(sequences);
        for (int i = 0; i < sequences.Count; i++) Assert.Equal(expected[i], actual[i]);
        var engine = ml.Model.CreatePredictionEngine<Review, Prediction>(loaded);
        Assert.Equal(expected[0], engine.Predict(new Review { Text = Reviews(60)[48].Text }).Score);
    }

    [Fact]
    public void OnnxExportRefusesAnEnsemble()
    {
        var ml = new MLContext(seed: 1);
        var options = EnsembleOptions(2);
        options.Epochs = 1;
        using var ensemble = Classifier(ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(32))));
        string directory = Path.Combine(TestPaths.NewTempDirectory(), "onnx");

        var error = Assert.Throws<NotSupportedException>(() => ml.MoE().ExportOnnx(ensemble, directory));
        Assert.Contains("ensemble of 2", error.Message);
        Assert.Contains("EnsembleSize", error.Message);
        Assert.False(Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any());
    }

    [Fact]
    public void AnInterruptedEnsembleReloadsItsFinishedMembersAndContinuesTheRest()
    {
        string directory = TestPaths.NewTempDirectory();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Reviews(48));
        MoeTextClassificationOptions Checkpointed()
        {
            var options = EnsembleOptions(2);
            options.ValidationFraction = 0;
            options.EarlyStoppingPatience = 0;
            options.TrainingCheckpointDirectory = directory;
            options.CheckpointEverySteps = 2;
            options.KeepCheckpoints = 10;
            return options;
        }
        using var full = Classifier(ClassifierPipeline(ml, Checkpointed()).Fit(data));
        // 48 rows in batches of 16, 2 epochs: 6 steps a member, a checkpoint every 2 steps, each member in its own folder.
        Assert.Equal(new[] { "member-01", "member-02" }, Directory.GetDirectories(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        string member1 = MoeTextClassificationTrainer.MemberDirectory(directory, 1), member2 = MoeTextClassificationTrainer.MemberDirectory(directory, 2);
        Assert.Equal(3, Directory.GetFiles(member1, "*.moeckpt").Length);

        // Interrupt member 2 after its step 2: its later checkpoints go; member 1 stays finished.
        foreach (string later in Directory.GetFiles(member2, "*.moeckpt").Order(StringComparer.Ordinal).Skip(1)) File.Delete(later);
        var resumedReports = new List<TextClassificationProgress>();
        var resumedOptions = Checkpointed();
        resumedOptions.ResumeFrom = directory;
        resumedOptions.Progress = new SyncProgress<TextClassificationProgress>(resumedReports.Add);
        using var resumed = Classifier(ClassifierPipeline(new MLContext(seed: 1), resumedOptions).Fit(data));

        Assert.DoesNotContain(resumedReports, r => r.Member == 1);
        var resumedSteps = resumedReports.Where(r => r.Member == 2).Select(r => r.Step).ToList();
        Assert.NotEmpty(resumedSteps);
        Assert.All(resumedSteps, step => Assert.InRange(step, 3, 6));
        Assert.Equal(6, resumedSteps[^1]);
        for (int m = 0; m < 2; m++)
        {
            var expected = Weights(full.Members[m]);
            var actual = Weights(resumed.Members[m]);
            foreach (var (name, values) in expected) Assert.True(values.SequenceEqual(actual[name]), $"tensor {name} of member {m + 1} differs after resuming");
        }
    }

    [Fact]
    public void EnsembleOptionsAreChecked()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Reviews(32));
        foreach (int size in new[] { 0, 17 })
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => ClassifierPipeline(ml, EnsembleOptions(size)).Fit(data));
            Assert.Equal("EnsembleSize", error.ParamName);
        }
        string file = Path.Combine(TestPaths.NewTempDirectory(), "classifier-step00000002.moeckpt");
        File.WriteAllText(file, "not a checkpoint");
        var options = EnsembleOptions(2);
        options.ResumeFrom = file;
        var resume = Assert.Throws<ArgumentOutOfRangeException>(() => ClassifierPipeline(ml, options).Fit(data));
        Assert.Equal("ResumeFrom", resume.ParamName);
        Assert.Contains("folder", resume.Message);
    }
}
