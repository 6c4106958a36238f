using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.ML;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>The service serves an ONNX-backed language model zip: the same scores as the TorchSharp model it was exported from.</summary>
[Collection(ServiceCollection.Name)]
public class OnnxServingTests
{
    private readonly TrainedModelFixture model;

    public OnnxServingTests(TrainedModelFixture model) => this.model = model;

    [Fact]
    public async Task AnOnnxBackedZipScoresLikeTheTorchSharpModelAndGenerates()
    {
        var ml = new MLContext(seed: 1);
        string export = Path.Combine(Path.GetTempPath(), "mlnet-moe-serving-tests", Guid.NewGuid().ToString("N"));
        ml.MoE().ExportOnnx(model.Reference, export);
        string zip = Path.Combine(export, "onnx-model.zip");
        using (var onnx = ml.MoeOnnx().LoadLanguageModel(export, tokenColumnName: "Text", contextLength: model.Reference.ContextLength))
        {
            var schema = ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "" } }).Schema;
            ml.MoE().SaveModel(onnx, schema, zip);
        }
        using var reference = ml.MoeOnnx().LoadLanguageModel(export, tokenColumnName: "Text", contextLength: model.Reference.ContextLength);

        await using var service = await RunningService.StartAsync(zip, o =>
        {
            o.MaxBatchSize = 16;
            o.MaxBatchWaitMilliseconds = 30;
            o.CacheEnabled = false;
        });
        Assert.Equal("language-model-onnx", (await service.ReadinessAsync()).Body.GetProperty("checks").GetProperty("model").GetProperty("data").GetProperty("kind").GetString());

        var requests = Enumerable.Range(0, 12).Select(r => model.Texts(1 + r % 3, offset: 7 * r)).ToList();
        var responses = await Task.WhenAll(requests.Select(texts => service.ScoreAsync(texts)));
        for (int r = 0; r < requests.Count; r++)
        {
            Assert.Equal(HttpStatusCode.OK, responses[r].StatusCode);
            var results = (await responses[r].Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results");
            for (int i = 0; i < requests[r].Count; i++)
            {
                double expected = model.ExpectedScore(requests[r][i]);
                Assert.True(Math.Abs(expected - results[i].GetProperty("score").GetDouble()) < 1e-4,
                    $"text '{requests[r][i]}': ONNX service {results[i].GetProperty("score").GetDouble()}, TorchSharp {expected}");
            }
        }
        var metrics = await service.MetricsAsync();
        Assert.True(metrics.Sum("scoring_batch_size_count") < metrics.Sum("scoring_batch_size_sum"), "the concurrent texts were never batched");

        const string prompt = "And God said";
        string text = reference.Generate(prompt, new GenerationOptions { MaxNewTokens = 12, Temperature = 0 });
        var plain = await (await service.Client.PostAsJsonAsync("/v1/generate", new { prompt, maxTokens = 12 })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(text, plain.GetProperty("text").GetString());
        using var streamed = await service.Client.PostAsJsonAsync("/v1/generate", new { prompt, maxTokens = 12, stream = true });
        var pieces = new StringBuilder();
        await foreach (var item in System.Net.ServerSentEvents.SseParser.Create(await streamed.Content.ReadAsStreamAsync()).EnumerateAsync())
        {
            if (item.EventType == "message") pieces.Append(JsonDocument.Parse(item.Data).RootElement.GetProperty("text").GetString());
        }
        Assert.Equal(text, pieces.ToString());
        Directory.Delete(export, recursive: true);
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }
}
