using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.ML;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>The service serves a saved text classifier: label and class probabilities per text, batched and cached.</summary>
public sealed class ClassifierServingTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "mlnet-moe-serving-tests", Guid.NewGuid().ToString("N"));
    private readonly string modelPath;
    private readonly MoeTextClassificationTransformer reference;
    private readonly List<string> reviews;

    public ClassifierServingTests()
    {
        Directory.CreateDirectory(directory);
        modelPath = Path.Combine(directory, "classifier.zip");
        var rows = File.ReadLines(TrainedModelFixture.RepositoryData("amazon_cells_labelled.txt")).Take(120).Select(line =>
        {
            int tab = line.LastIndexOf('\t');
            return new Review { Text = line[..tab], Label = line[(tab + 1)..].Trim() == "1" ? "positive" : "negative" };
        }).ToList();
        reviews = rows.Skip(64).Select(r => r.Text).ToList();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows.Take(64).ToList());
        var options = new MoeTextClassificationOptions
        {
            Model = new MoeModelConfig
            {
                HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
                NumKeyValueHeads = 2, KvLoraRank = 16, QLoraRank = null, QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8,
                NRoutedExperts = 4, NumExpertsPerTok = 2, MaxPositionEmbeddings = 256,
            },
            MaxLength = 160, BatchSize = 16, MaxSteps = 8, WarmupSteps = 1, ValidationFraction = 0, Seed = 3,
        };
        var model = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.MoeTextClassification(options)).Fit(data);
        ml.MoE().SaveModel(model, data.Schema, modelPath);
        reference = ((IEnumerable<ITransformer>)new MLContext(seed: 1).Model.Load(modelPath, out _)).OfType<MoeTextClassificationTransformer>().Single();
    }

    [Fact]
    public async Task ConcurrentRequestsGetTheirOwnLabelsAndProbabilities()
    {
        await using var service = await RunningService.StartAsync(modelPath, o =>
        {
            o.MaxBatchSize = 16;
            o.MaxBatchWaitMilliseconds = 20;
        });
        var (_, readiness) = await service.ReadinessAsync();
        Assert.Equal("text-classifier", readiness.GetProperty("checks").GetProperty("model").GetProperty("data").GetProperty("kind").GetString());

        var texts = reviews.Take(12).ToList();
        var responses = await Task.WhenAll(texts.Select(t => service.ScoreAsync(new[] { t })));
        for (int i = 0; i < texts.Count; i++)
        {
            Assert.Equal(HttpStatusCode.OK, responses[i].StatusCode);
            var result = (await responses[i].Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results")[0];
            float[] expected = reference.PredictProbabilities(texts[i]);
            var probabilities = result.GetProperty("probabilities");
            var names = reference.ClassNames!;
            for (int c = 0; c < names.Count; c++) Assert.Equal(expected[c], probabilities.GetProperty(names[c]).GetDouble(), 5);
            Assert.Equal(names[expected[1] > expected[0] ? 1 : 0], result.GetProperty("label").GetString());
            Assert.False(result.TryGetProperty("perplexity", out var perplexity) && perplexity.ValueKind != JsonValueKind.Null);
        }
        var metrics = await service.MetricsAsync();
        Assert.True(metrics.Sum("scoring_batch_size_count") < metrics.Sum("scoring_batch_size_sum"), "the concurrent texts were never batched");

        var again = (await (await service.ScoreAsync(new[] { texts[3] })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results")[0];
        Assert.True(again.GetProperty("cached").GetBoolean());
        Assert.Equal(reference.PredictProbabilities(texts[3])[0], again.GetProperty("probabilities").GetProperty(reference.ClassNames![0]).GetDouble(), 5);

        using var generate = await service.Client.PostAsJsonAsync("/v1/generate", new { prompt = "Great", maxTokens = 4 });
        Assert.Equal(HttpStatusCode.BadRequest, generate.StatusCode);
        Assert.Contains("does not generate", await generate.Content.ReadAsStringAsync());

        using var tooLong = await service.ScoreAsync(new[] { new string('a', 200) });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Contains("texts[0] is longer than the 160 tokens (end-of-text tokens included) the classifier reads", await tooLong.Content.ReadAsStringAsync());
    }

    public void Dispose()
    {
        reference.Dispose();
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class Review
    {
        public string Text { get; set; } = "";

        public string Label { get; set; } = "";
    }
}
