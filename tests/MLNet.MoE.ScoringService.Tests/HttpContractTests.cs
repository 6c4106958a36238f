using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>The service's HTTP contract: problem documents for every error status, the OpenAPI document, the Prometheus metrics and the listen addresses.</summary>
[Collection(ServiceCollection.Name)]
public class HttpContractTests
{
    private readonly TrainedModelFixture model;

    public HttpContractTests(TrainedModelFixture model) => this.model = model;

    [Fact]
    public async Task UnknownPathsAndWrongMethodsGetProblemDocuments()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath);
        var cases = new (HttpMethod Method, string Path, HttpStatusCode Status)[]
        {
            (HttpMethod.Get, "/v1/nothing-here", HttpStatusCode.NotFound),
            (HttpMethod.Get, "/v1/score", HttpStatusCode.MethodNotAllowed),
            (HttpMethod.Delete, "/v1/generate", HttpStatusCode.MethodNotAllowed),
        };
        foreach (var c in cases)
        {
            using var response = await service.Client.SendAsync(new HttpRequestMessage(c.Method, c.Path));
            Assert.Equal(c.Status, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal((int)c.Status, problem.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        }
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesTheEndpointsAndTheirSchemas()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath);
        var document = await service.Client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = document.GetProperty("paths");
        var score = paths.GetProperty("/v1/score").GetProperty("post");
        var generate = paths.GetProperty("/v1/generate").GetProperty("post");
        Assert.Equal("#/components/schemas/ScoreRequest", score.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString());
        Assert.Equal("#/components/schemas/ScoreResponse", score.GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString());
        Assert.Equal("#/components/schemas/GenerateRequest", generate.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString());
        Assert.True(generate.GetProperty("responses").TryGetProperty("400", out _));
        Assert.True(score.GetProperty("responses").TryGetProperty("503", out _));
        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.GetProperty("ScoreRequest").GetProperty("properties").TryGetProperty("texts", out _));
        var generateProperties = schemas.GetProperty("GenerateRequest").GetProperty("properties");
        foreach (string field in new[] { "prompt", "maxTokens", "temperature", "topK", "topP", "seed", "stream" }) Assert.True(generateProperties.TryGetProperty(field, out _), field);
        Assert.False(generateProperties.TryGetProperty("isDeterministic", out _));
        Assert.True(schemas.GetProperty("ScoredText").GetProperty("properties").TryGetProperty("perplexity", out _));
        Assert.True(schemas.GetProperty("GenerateResponse").GetProperty("properties").TryGetProperty("finishReason", out _));
    }

    [Fact]
    public async Task PrometheusMetricsCountRequestsByRouteAndStatus()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath, o => o.MaxBatchSize = 1);
        var texts = model.Texts(3, offset: 200);
        for (int i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await service.ScoreAsync(new[] { texts[i] })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await service.ScoreAsync(new[] { texts[0] })).StatusCode);
        using var bad = await service.Client.PostAsync("/v1/score", new StringContent("{\"texts\": []}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await service.Client.PostAsJsonAsync("/v1/generate", new { prompt = "And God", maxTokens = 3 })).StatusCode);

        var metrics = await service.MetricsAsync();
        Assert.Equal(4, metrics.Sum("scoring_requests_total", "route=/v1/score", "status=200"));
        Assert.Equal(1, metrics.Sum("scoring_requests_total", "route=/v1/score", "status=400"));
        Assert.Equal(1, metrics.Sum("scoring_requests_total", "route=/v1/generate", "status=200"));
        Assert.Equal(5, metrics.Sum("scoring_request_duration_seconds_count", "route=/v1/score"));
        Assert.Equal(3, metrics.Sum("scoring_batch_size_count"));
        Assert.Equal(3, metrics.Sum("scoring_batch_size_sum"));
        Assert.Equal(3, metrics.Sum("scoring_queue_wait_seconds_count"));
        Assert.Equal(1, metrics.Sum("scoring_cache_hits_total"));
        Assert.Equal(4, metrics.Sum("scoring_cache_misses_total"));
        Assert.Equal(3, metrics.Sum("scoring_generated_tokens_total"));
        Assert.Equal(texts.Sum(t => model.Reference.Tokenizer.Encode(t).Length), metrics.Sum("scoring_scored_tokens_total"));
        Assert.Equal(0, metrics.Sum("scoring_queue_length"));
        Assert.Equal(0, metrics.Sum("scoring_generation_slots_in_use"));
        Assert.True(metrics.Has("scoring_rejections_total") || !metrics.Text.Contains("scoring_rejections"), "rejections appear once counted");
        Assert.True(metrics.Sum("http_server_request_duration_seconds_count") >= 6, "the framework's own request metrics are exported too");
    }

    [Fact]
    public async Task TheUrlsArgumentChoosesTheAddressAndExposedAddressesWithoutAKeyAreWarnedAbout()
    {
        await using (var loopback = await RunningService.StartAsync(model.ModelPath))
        {
            Assert.StartsWith("http://127.0.0.1:", loopback.App.Urls.Single());
            Assert.DoesNotContain(loopback.Logs.Collector.GetSnapshot(), r => r.Message.Contains("beyond loopback"));
            var started = Assert.Single(loopback.Logs.Collector.GetSnapshot(), r => r.Message.StartsWith("Serving ", StringComparison.Ordinal));
            Assert.Contains(model.ModelPath, started.Message);
            Assert.Contains("language-model", started.Message);
            Assert.Contains("cache memory", started.Message);
            Assert.Contains("queue 1024 texts", started.Message);
        }
        await using var exposed = await RunningService.StartAsync(model.ModelPath, null, "--urls=http://0.0.0.0:0");
        Assert.StartsWith("http://0.0.0.0:", exposed.App.Urls.Single());
        var warning = Assert.Single(exposed.Logs.Collector.GetSnapshot(), r => r.Message.Contains("beyond loopback"));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, warning.Level);
        Assert.Contains("Scoring:ApiKey", warning.Message);
    }
}
