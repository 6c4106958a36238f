using MLNet.MoE.Samples.ModelBuilder;

namespace MLNet.MoE.Tests.ModelBuilder;

/// <summary>
/// The Model Builder-shaped samples' static API: a quick training run writes the model file and predicts through it;
/// bad data fails at the first <c>Train</c> call with a message naming the file or column, and leaves no model file.
/// </summary>
public class ModelBuilderSampleTests
{
    [Fact]
    public void TheSentimentModelTrainsAndPredictsEveryLabelOrderedByScore()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            string modelPath = Path.Combine(work, "SentimentModel.mlnet");
            SentimentModel.MLNetModelPath = modelPath;
            var result = SentimentModel.Train(modelPath, TestPaths.AmazonReviews, quick: true);
            Assert.InRange(result.Metrics.MicroAccuracy, 0, 1);
            Assert.Equal(2, result.Metrics.ConfusionMatrix.NumberOfClasses);
            // The baseline is trained and scored on the same held-out rows.
            Assert.InRange(result.BaselineMetrics.MicroAccuracy, 0, 1);
            Assert.Equal(result.Metrics.ConfusionMatrix.Counts.Sum(r => r.Sum()), result.BaselineMetrics.ConfusionMatrix.Counts.Sum(r => r.Sum()));
            string table = SentimentModel.FormatMetrics(result);
            Assert.Contains("MicroAccuracy:", table);
            Assert.Contains("LbfgsMaximumEntropy", table);
            Assert.Equal(new[] { "SentimentModel.mlnet" }, Directory.GetFiles(work).Select(Path.GetFileName));

            var input = new SentimentModel.ModelInput { Text = "Great phone, works perfectly." };
            var all = SentimentModel.PredictAllLabels(input).ToList();
            Assert.Equal(new[] { "0", "1" }, all.Select(p => p.Key).Order(StringComparer.Ordinal));
            Assert.Equal(all.Select(p => p.Value).OrderByDescending(v => v), all.Select(p => p.Value));
            Assert.Equal(1.0, all.Sum(p => (double)p.Value), 4);
            var output = SentimentModel.Predict(input);
            Assert.Equal(all[0].Key, output.PredictedLabel);
            Assert.Equal(output.Score.OrderByDescending(v => v), all.Select(p => p.Value));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void TheScriptureModelTrainsAndGeneratesWithPerplexityAndScore()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            string modelPath = Path.Combine(work, "ScriptureModel.mlnet");
            ScriptureModel.MLNetModelPath = modelPath;
            var metrics = ScriptureModel.Train(modelPath, TestPaths.KjvVerses, quick: true);
            Assert.True(metrics.TokenCount > 0 && double.IsFinite(metrics.Perplexity), $"metrics {metrics}");
            Assert.True(File.Exists(modelPath));

            var output = ScriptureModel.Predict(new ScriptureModel.ModelInput { Text = "In the beginning" });
            Assert.True(output.Score > 0, $"score {output.Score}");
            Assert.Equal(Math.Exp(output.Score), output.Perplexity, output.Perplexity * 1e-4);
            Assert.NotNull(output.GeneratedText);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void AMissingDataFileIsNamedAndNoModelIsWritten()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            string modelPath = Path.Combine(work, "model.mlnet");
            string missing = Path.Combine(work, "no-such-reviews.tsv");
            var error = Assert.Throws<FileNotFoundException>(() => SentimentModel.Train(modelPath, missing, quick: true));
            Assert.Contains("no-such-reviews.tsv", error.Message);
            Assert.Empty(Directory.GetFileSystemEntries(work));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void AQuickRunOnAFileSortedByLabelDrawsEveryClass()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            // Every negative review, then every positive one: the first MaxRows rows would hold one class.
            var lines = File.ReadLines(TestPaths.AmazonReviews).OrderBy(l => l.EndsWith("\t1", StringComparison.Ordinal)).ToList();
            string data = Path.Combine(work, "sorted.tsv");
            File.WriteAllLines(data, lines);
            string modelPath = Path.Combine(work, "model.mlnet");
            SentimentModel.MLNetModelPath = modelPath;
            var result = SentimentModel.Train(modelPath, data, quick: true);
            Assert.Equal(2, result.Metrics.ConfusionMatrix.NumberOfClasses);
            Assert.True(File.Exists(modelPath));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void DataTooSmallForTheSettingsIsNamedAndNoModelIsWritten()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            string data = Path.Combine(work, "tiny.tsv");
            File.WriteAllLines(data, File.ReadLines(TestPaths.AmazonReviews).Take(3));
            string modelPath = Path.Combine(work, "model.mlnet");
            var error = Assert.Throws<InvalidDataException>(() => SentimentModel.Train(modelPath, data, quick: true));
            Assert.Contains(data, error.Message);
            Assert.Contains("3 rows", error.Message);
            Assert.Contains("TestFraction", error.Message);
            Assert.False(File.Exists(modelPath));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void ALabelColumnWithOneClassIsNamedAndNoModelIsWritten()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            string data = Path.Combine(work, "positive-only.tsv");
            File.WriteAllLines(data, File.ReadLines(TestPaths.AmazonReviews).Where(l => l.EndsWith("\t1", StringComparison.Ordinal)).Take(50));
            string modelPath = Path.Combine(work, "model.mlnet");
            var error = Assert.Throws<InvalidDataException>(() => SentimentModel.Train(modelPath, data, quick: true));
            Assert.Contains($"'{SentimentModel.LabelColumnName}'", error.Message);
            Assert.Contains(data, error.Message);
            Assert.False(File.Exists(modelPath));
            Assert.Single(Directory.GetFileSystemEntries(work));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void AColumnMissingFromTheHeaderIsNamed()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            string data = Path.Combine(work, "reviews.tsv");
            File.WriteAllLines(data, new[] { "Label\tSentence", "1\tGood.", "0\tBad." });
            var configuration = SentimentModel.LoadConfiguration(SentimentModel.MBConfigPath);
            var withHeader = configuration.DataSource with { HasHeader = true };
            var error = Assert.Throws<InvalidDataException>(() => SentimentModel.LoadIDataViewFromFile(new Microsoft.ML.MLContext(seed: 1), data, withHeader));
            Assert.Contains($"'{SentimentModel.TextColumnName}'", error.Message);
            Assert.Contains(data, error.Message);
            Assert.Contains("'Sentence'", error.Message);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void PredictingBeforeTrainingNamesTheMissingModelFile()
    {
        string missing = Path.Combine(TestPaths.NewTempDirectory(), "never-trained.mlnet");
        try
        {
            ScriptureModel.MLNetModelPath = missing;
            var error = Assert.Throws<FileNotFoundException>(() => ScriptureModel.Predict(new ScriptureModel.ModelInput { Text = "x" }));
            Assert.Contains(missing, error.Message);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(missing)!, recursive: true);
        }
    }
}
