using Microsoft.ML;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>A small language model trained for a few steps and saved as model.zip, plus an independently loaded copy to compute expected answers.</summary>
public sealed class TrainedModelFixture : IDisposable
{
    private readonly string directory;

    public TrainedModelFixture()
    {
        directory = Path.Combine(Path.GetTempPath(), "mlnet-moe-serving-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        ModelPath = Path.Combine(directory, "model.zip");
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Verses.Take(80).Select(v => new TextRow { Text = v }).ToList());
        var options = new LanguageModelOptions
        {
            Model = new MoeModelConfig
            {
                HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
                NumKeyValueHeads = 2, KvLoraRank = 16, QLoraRank = 16, QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8,
                NRoutedExperts = 4, NumExpertsPerTok = 2, NGroup = 2, TopkGroup = 2, MaxPositionEmbeddings = 64,
            },
            ContextLength = 32, BatchSize = 4, MaxSteps = 3, WarmupSteps = 1, ValidationFraction = 0, Seed = 3, PromptColumnName = "Text",
        };
        var model = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Append(ml.MoE().Trainers.LanguageModel(options)).Fit(data);
        ml.MoE().SaveModel(model, data.Schema, ModelPath);
        var loaded = new MLContext(seed: 1).Model.Load(ModelPath, out _);
        Reference = ((IEnumerable<ITransformer>)loaded).OfType<LanguageModelTransformer>().Single();
    }

    /// <summary>The saved model.</summary>
    public string ModelPath { get; }

    /// <summary>The same model, loaded apart from any service, for expected answers.</summary>
    public LanguageModelTransformer Reference { get; }

    /// <summary>Verses of the King James Bible text shipped in the repository.</summary>
    public static IReadOnlyList<string> Verses { get; } = File.ReadLines(RepositoryData("kjv-pentateuch.txt")).Take(400).ToList();

    /// <summary>Texts that fit in the context, of varied lengths, all different.</summary>
    public IReadOnlyList<string> Texts(int count, int offset = 0) =>
        Enumerable.Range(offset, count).Select(i => Verses[i % Verses.Count][..Math.Min(Verses[i % Verses.Count].Length, 6 + i % 20)] + $" {i}").ToList();

    /// <summary>The mean cross-entropy of <paramref name="text"/>, scored alone.</summary>
    public double ExpectedScore(string text)
    {
        var score = Reference.ScoreTokens(Reference.Tokenizer.Encode(text));
        return score.CrossEntropySum / score.Tokens;
    }

    public void Dispose()
    {
        Reference.Dispose();
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A file of the repository's <c>data</c> folder.</summary>
    internal static string RepositoryData(string name)
    {
        for (string? dir = AppContext.BaseDirectory; dir != null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "MLNet.MoE.sln")))
            {
                string path = Path.Combine(dir, "data", name);
                if (!File.Exists(path)) throw new FileNotFoundException($"Test data '{path}' is missing from the repository's data folder.", path);
                return path;
            }
        }
        throw new DirectoryNotFoundException("MLNet.MoE.sln was not found above " + AppContext.BaseDirectory);
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }
}

[CollectionDefinition(Name)]
public sealed class ServiceCollection : ICollectionFixture<TrainedModelFixture>
{
    public const string Name = "scoring service";
}
