using System.IO.Compression;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;

namespace MLNet.MoE.Tests.Pipeline;

/// <summary>Saving to and loading from model.zip, in this process and in a fresh one.</summary>
public class ModelPersistenceTests : IClassFixture<LanguageModelTransformerTests.TrainedModel>
{
    private readonly LanguageModelTransformerTests.TrainedModel trained;

    public ModelPersistenceTests(LanguageModelTransformerTests.TrainedModel trained) => this.trained = trained;

    private string SaveModel()
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "model.zip");
        trained.Ml.MoE().SaveModel(trained.Model, trained.Train.Schema, path);
        return path;
    }

    private static List<string> Texts() => Verses(175).Skip(170).Select(v => v.Text).ToList();

    [Fact]
    public void AFreshProcessLoadsTheZipWithoutRegistrationAndComputesTheSame()
    {
        string path = SaveModel();
        string textsPath = Path.Combine(Path.GetDirectoryName(path)!, "texts.txt");
        File.WriteAllLines(textsPath, Texts());
        var engine = trained.Ml.Model.CreatePredictionEngine<TextRow, ScoredRow>(trained.Model);
        var expected = Texts().Select(t => engine.Predict(new TextRow { Text = t })).ToList();

        var (exitCode, output, error) = RunLoadCheck(path, textsPath);
        Assert.True(exitCode == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            using var json = JsonDocument.Parse(lines[i]);
            Assert.Equal(expected[i].Score, json.RootElement.GetProperty("Score").GetSingle());
            Assert.Equal(expected[i].Perplexity, json.RootElement.GetProperty("Perplexity").GetSingle());
            Assert.Equal(expected[i].GeneratedText, json.RootElement.GetProperty("GeneratedText").GetString());
        }
    }

    [Fact]
    public void LoadingInThisProcessWithANewContextGivesIdenticalScoresAndGenerations()
    {
        string path = SaveModel();
        var ml = new MLContext(seed: 5);
        var loaded = ml.Model.Load(path, out var schema);
        Assert.NotNull(schema.GetColumnOrNull("Text"));
        var before = trained.Ml.Data.CreateEnumerable<ScoredRow>(trained.Model.Transform(trained.Test), reuseRowObject: false).Take(4).ToList();
        var after = ml.Data.CreateEnumerable<ScoredRow>(loaded.Transform(trained.Test), reuseRowObject: false).Take(4).ToList();
        Assert.Equal(before.Select(r => r.Score), after.Select(r => r.Score));
        Assert.Equal(before.Select(r => r.GeneratedText), after.Select(r => r.GeneratedText));
    }

    [Fact]
    public void ACorruptOrTruncatedZipFailsToLoadWithAClearMessage()
    {
        string path = SaveModel();
        byte[] bytes = File.ReadAllBytes(path);
        string truncated = path + ".truncated.zip";
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(truncated, out _));

        // A zip whose weights entry was cut short.
        string damaged = path + ".damaged.zip";
        File.Copy(path, damaged);
        using (var zip = ZipFile.Open(damaged, ZipArchiveMode.Update))
        {
            var entry = zip.Entries.Single(e => e.FullName.EndsWith("Weights.bin", StringComparison.Ordinal));
            byte[] content;
            using (var stream = entry.Open())
            using (var memory = new MemoryStream())
            {
                stream.CopyTo(memory);
                content = memory.ToArray();
            }
            string name = entry.FullName;
            entry.Delete();
            using var replacement = zip.CreateEntry(name).Open();
            replacement.Write(content, 0, content.Length / 3);
        }
        var error = Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(damaged, out _));
        Assert.Contains("truncated", error.GetBaseException().Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Weights.bin", error.GetBaseException().Message, StringComparison.Ordinal);

        var (exitCode, _, message) = RunLoadCheck(damaged, damaged);
        Assert.Equal(2, exitCode);
        Assert.Contains("Weights.bin", message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFailedSaveLeavesNoFileBehind()
    {
        string directory = TestPaths.NewTempDirectory();
        string path = Path.Combine(directory, "model.zip");
        var failing = new FailingTransformer();
        Assert.Throws<InvalidOperationException>(() => trained.Ml.MoE().SaveModel(failing, trained.Train.Schema, path));
        Assert.Empty(Directory.GetFiles(directory));
    }

    private static (int ExitCode, string Output, string Error) RunLoadCheck(string modelPath, string textsPath) =>
        TestTools.Run("MLNet.MoE.ModelLoadCheck", modelPath, textsPath);

    /// <summary>A transformer whose save fails half-way, as a full disk or a crashing component would.</summary>
    private sealed class FailingTransformer : ITransformer, ICanSaveModel
    {
        public bool IsRowToRowMapper => false;

        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => inputSchema;

        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => throw new NotSupportedException();

        public IDataView Transform(IDataView input) => input;

        void ICanSaveModel.Save(ModelSaveContext ctx) => throw new InvalidOperationException("save interrupted");
    }
}
