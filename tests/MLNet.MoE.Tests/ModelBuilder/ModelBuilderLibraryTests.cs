using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Text;

namespace MLNet.MoE.Tests.ModelBuilder;

/// <summary>
/// The library side of the Model Builder-shaped code (<c>MLNet.MoE.ModelBuilder</c>): the <c>.mbconfig</c> loader refuses
/// what the code does not train, naming the file and the setting; the data file is read by its header; the data checks
/// name the column and the file; the shared prediction engine loads the model file again once it is rewritten.
/// </summary>
public class ModelBuilderLibraryTests
{
    private static readonly string SentimentMbconfig = Path.Combine(TestPaths.RepositoryRoot, "samples", "ModelBuilder", "SentimentModel", "SentimentModel.mbconfig");
    private static readonly string ScriptureMbconfig = Path.Combine(TestPaths.RepositoryRoot, "samples", "ModelBuilder", "ScriptureModel", "ScriptureModel.mbconfig");

    [Theory]
    [InlineData("0.2,\n    \"Seed\": 1", "0.2", "Seed")]                                             // a required setting missing
    [InlineData("\"Environment\": {\n    \"Type\": \"LocalCPU\"\n  }", "\"Environment\": null", "Environment")]
    [InlineData("\"Tokenizer\": \"ByteLevel\"", "\"Tokenizer\": \"Bytes\"", "TrainingOption.Tokenizer")]
    [InlineData("\"ColumnName\": \"Label\"", "\"ColumnName\": \"Class\"", "ColumnProperties")]
    [InlineData("\"Scenario\": \"TextClassification\"", "\"Scenario\": \"LanguageModeling\"", "Scenario")]
    [InlineData(", \"Index\": 1", "", "Index")]                                                   // no header, no position
    public void AClassifierMbconfigThatIsNotWhatTheCodeTrainsIsRefusedNamingTheFileAndTheSetting(string original, string edited, string setting)
    {
        WithEditedCopy(SentimentMbconfig, original, edited, path =>
        {
            var error = Assert.Throws<InvalidDataException>(() => TextClassificationConfiguration.Load(path, "Text", "Label"));
            Assert.Contains(path, error.Message);
            Assert.Contains(setting, error.Message);
        });
    }

    [Theory]
    [InlineData("\"MaxSteps\": 4", "\"MaxSteps\": 0", "QuickTrainingOption")]
    [InlineData("\"TestFraction\": 0.05", "\"TestFraction\": 1", "TrainingOption.TestFraction")]
    [InlineData("\"Type\": \"LocalCPU\"", "\"Type\": \"LocalTPU\"", "Environment.Type")]
    public void ALanguageModelMbconfigThatIsNotWhatTheCodeTrainsIsRefusedNamingTheFileAndTheSetting(string original, string edited, string setting)
    {
        WithEditedCopy(ScriptureMbconfig, original, edited, path =>
        {
            var error = Assert.Throws<InvalidDataException>(() => LanguageModelingConfiguration.Load(path, "Text"));
            Assert.Contains(path, error.Message);
            Assert.Contains(setting, error.Message);
        });
    }

    [Fact]
    public void TheSamplesMbconfigsLoadAsTheirScenarios()
    {
        var classifier = TextClassificationConfiguration.Load(SentimentMbconfig, "Text", "Label");
        Assert.Equal(TextClassificationConfiguration.ScenarioName, classifier.Scenario);
        Assert.Equal(classifier.QuickTrainingOption.Epochs, classifier.ForQuickRun().TrainingOption.Epochs);
        Assert.Equal(classifier.TrainingOption with { Epochs = classifier.QuickTrainingOption.Epochs }, classifier.ForQuickRun().TrainingOption);

        var languageModel = LanguageModelingConfiguration.Load(ScriptureMbconfig, "Text");
        var quick = languageModel.ForQuickRun();
        Assert.Equal(languageModel.QuickTrainingOption.MaxSteps, quick.TrainingOption.MaxSteps);
        Assert.InRange(quick.TrainingOption.WarmupSteps, 0, quick.TrainingOption.MaxSteps / 10);
        Assert.Equal(languageModel.TrainingOption.Seed, quick.TrainingOption.Seed);
    }

    [Fact]
    public void TheDataFileIsReadByItsHeaderWhateverTheOrderOfItsColumns()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            string data = Path.Combine(work, "reviews.csv");
            File.WriteAllLines(data, new[] { "Id;Label;Text", "7;1;Good phone.", "8;0;Bad battery." });
            var dataSource = new DataSourceConfiguration
            {
                Type = "TabularFile",
                FilePath = data,
                Delimiter = ";",
                HasHeader = true,
                AllowQuoting = false,
                ColumnProperties = new[]
                {
                    new ColumnProperty { ColumnName = "Text", ColumnPurpose = "Text", ColumnDataFormat = "String" },
                    new ColumnProperty { ColumnName = "Label", ColumnPurpose = "Label", ColumnDataFormat = "String" },
                },
            };
            var mlContext = new MLContext(seed: 1);
            IDataView view = TabularDataFile.Load(mlContext, data, dataSource);
            Assert.Equal(new[] { "Text", "Label" }, view.Schema.Select(c => c.Name));
            Assert.Equal(new[] { "Good phone.", "Bad battery." }, view.GetColumn<string>("Text"));
            Assert.Equal(new[] { "1", "0" }, view.GetColumn<string>("Label"));

            // Without a header the same columns are read at their Index.
            string headerless = Path.Combine(work, "headerless.csv");
            File.WriteAllLines(headerless, new[] { "Good phone.;1", "Bad battery.;0" });
            var byIndex = dataSource with
            {
                HasHeader = false,
                ColumnProperties = dataSource.ColumnProperties.Select((c, i) => c with { Index = i }).ToArray(),
            };
            Assert.Equal(new[] { "1", "0" }, TabularDataFile.Load(mlContext, headerless, byIndex).GetColumn<string>("Label"));

            var missing = Assert.Throws<FileNotFoundException>(() => TabularDataFile.ResolvePath(Path.Combine("no-such-folder", "reviews.csv")));
            Assert.Contains(Path.Combine("no-such-folder", "reviews.csv"), missing.Message);
            Assert.Equal(data, TabularDataFile.ResolvePath(data));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void TheQuickSampleKeepsEveryClassInItsShareDrawnFromTheWholeData()
    {
        var mlContext = new MLContext(seed: 1);
        // 90 rows of class a, then 10 of class b: sorted by label.
        var rows = Enumerable.Range(0, 100).Select(i => new TextRow { Text = $"row {i}", Label = i < 90 ? "a" : "b" }).ToList();
        var quick = new TextClassificationQuickTrainingOption { MaxRows = 20, Epochs = 1 };
        var sample = mlContext.Data.CreateEnumerable<TextRow>(quick.SampleRows(mlContext, mlContext.Data.LoadFromEnumerable(rows), "Text", "Label", seed: 3), reuseRowObject: false).ToList();
        Assert.Equal(18, sample.Count(r => r.Label == "a"));
        Assert.Equal(2, sample.Count(r => r.Label == "b"));
        // Drawn from the whole data, in its order, each row once.
        var indices = sample.Select(r => int.Parse(r.Text[4..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(indices.Order(), indices);
        Assert.Equal(indices.Count, indices.Distinct().Count());
        Assert.True(indices.Where(i => i < 90).Max() > 20, "the sample of class a is not its first rows");
        // Another seed draws other rows; MaxRows 0 keeps them all.
        var other = mlContext.Data.CreateEnumerable<TextRow>(quick.SampleRows(mlContext, mlContext.Data.LoadFromEnumerable(rows), "Text", "Label", seed: 4), reuseRowObject: false).Select(r => r.Text);
        Assert.NotEqual(sample.Select(r => r.Text), other);
        var all = (quick with { MaxRows = 0 }).SampleRows(mlContext, mlContext.Data.LoadFromEnumerable(rows), "Text", "Label", seed: 3);
        Assert.Equal(100, mlContext.Data.CreateEnumerable<TextRow>(all, reuseRowObject: false).Count());
    }

    [Fact]
    public void DataTooSmallForTheSplitsIsRefusedSayingWhatToChange()
    {
        var error = Assert.Throws<InvalidDataException>(() => TrainingDataChecks.RequireEnoughRows(10, 4, 0.2, 0.1, "small.tsv"));
        Assert.Contains("'small.tsv'", error.Message);
        Assert.Contains("10 rows of 4 classes", error.Message);
        Assert.Contains("ValidationFraction", error.Message);
        TrainingDataChecks.RequireEnoughRows(40, 4, 0.2, 0.1, "enough.tsv");
    }

    [Fact]
    public void TheDataChecksNameTheColumnAndTheFile()
    {
        var mlContext = new MLContext(seed: 1);
        var blank = mlContext.Data.LoadFromEnumerable(new[] { new TextRow { Text = " ", Label = "a" }, new TextRow { Text = "", Label = "a" } });
        var noText = Assert.Throws<InvalidDataException>(() => TrainingDataChecks.RequireText(blank, "Text", "blank.tsv"));
        Assert.Contains("'Text'", noText.Message);
        Assert.Contains("'blank.tsv'", noText.Message);

        var oneClass = Assert.Throws<InvalidDataException>(() => TrainingDataChecks.RequireTwoClassesOrMore(blank, "Label", "blank.tsv"));
        Assert.Contains("'Label'", oneClass.Message);
        Assert.Contains("one class ('a')", oneClass.Message);

        var noColumn = Assert.Throws<InvalidDataException>(() => TrainingDataChecks.RequireText(blank, "Sentence", "blank.tsv"));
        Assert.Contains("'Sentence'", noColumn.Message);
        Assert.Contains("'blank.tsv'", noColumn.Message);

        var twoClasses = mlContext.Data.LoadFromEnumerable(new[] { new TextRow { Text = "x", Label = "a" }, new TextRow { Text = "y", Label = "b" } });
        TrainingDataChecks.RequireTwoClassesOrMore(twoClasses, "Label", "two.tsv");
        TrainingDataChecks.RequireText(twoClasses, "Text", "two.tsv");
    }

    [Fact]
    public void TheSharedEngineLoadsTheModelFileAgainOnceItIsSavedAgain()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            string modelPath = Path.Combine(work, "model.mlnet");
            var engine = new SharedPredictionEngine<TextRow, CasedRow>(modelPath, "CaseModel");
            var missing = Assert.Throws<FileNotFoundException>(() => engine.Predict(new TextRow { Text = "x" }));
            Assert.Contains(modelPath, missing.Message);
            Assert.Contains("CaseModel.Train", missing.Message);

            SaveCaseModel(modelPath, TextNormalizingEstimator.CaseMode.Upper);
            Assert.Equal("ABC", engine.Predict(new TextRow { Text = "aBc" }).Cased);

            // Saved again: the engine keeps the loaded model until it is told, and a save elsewhere does not count.
            SaveCaseModel(modelPath, TextNormalizingEstimator.CaseMode.Lower);
            Assert.Equal("ABC", engine.Predict(new TextRow { Text = "aBc" }).Cased);
            engine.OnModelSaved(Path.Combine(work, "other.mlnet"));
            Assert.Equal("ABC", engine.Predict(new TextRow { Text = "aBc" }).Cased);
            engine.OnModelSaved(modelPath);
            Assert.Equal("abc", engine.Predict(new TextRow { Text = "aBc" }).Cased);
            Assert.Equal(typeof(ReadOnlyMemory<char>), engine.Use(e => e.OutputSchema["Cased"].Type.RawType));

            // A new path: the next prediction reads that file.
            string other = Path.Combine(work, "upper.mlnet");
            SaveCaseModel(other, TextNormalizingEstimator.CaseMode.Upper);
            engine.ModelPath = other;
            Assert.Equal(Path.GetFullPath(other), engine.ModelPath);
            Assert.Equal("ABC", engine.Predict(new TextRow { Text = "aBc" }).Cased);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static void SaveCaseModel(string path, TextNormalizingEstimator.CaseMode mode)
    {
        var mlContext = new MLContext(seed: 1);
        var data = mlContext.Data.LoadFromEnumerable(new[] { new TextRow { Text = "a" } });
        var model = mlContext.Transforms.Text.NormalizeText("Cased", "Text", caseMode: mode).Fit(data);
        mlContext.Model.Save(model, data.Schema, path);
    }

    private static void WithEditedCopy(string mbconfig, string original, string edited, Action<string> check)
    {
        string text = File.ReadAllText(mbconfig);
        Assert.Contains(original, text);
        string work = TestPaths.NewTempDirectory();
        try
        {
            string path = Path.Combine(work, "edited.mbconfig");
            File.WriteAllText(path, text.Replace(original, edited));
            check(path);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>An input row.</summary>
    public sealed class TextRow
    {
        /// <summary>Text.</summary>
        public string Text { get; set; } = "";

        /// <summary>Label.</summary>
        public string Label { get; set; } = "";
    }

    /// <summary>The case model's output row.</summary>
    public sealed class CasedRow
    {
        /// <summary>The text in one case.</summary>
        public string Cased { get; set; } = "";
    }
}
