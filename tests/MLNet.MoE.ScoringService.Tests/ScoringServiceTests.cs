using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>The scoring service through its real HTTP server on a loopback port.</summary>
[Collection(ServiceCollection.Name)]
public class ScoringServiceTests
{
    private readonly TrainedModelFixture model;

    public ScoringServiceTests(TrainedModelFixture model) => this.model = model;

    [Fact]
    public async Task ConcurrentCallersEachGetTheirOwnScoresFromSharedBatches()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath, o =>
        {
            o.MaxBatchSize = 16;
            o.MaxBatchWaitMilliseconds = 50;
            o.CacheEnabled = false;
        });
        var requests = Enumerable.Range(0, 24).Select(r => model.Texts(1 + r % 3, offset: 10 * r)).ToList();
        var responses = await Task.WhenAll(requests.Select(texts => service.ScoreAsync(texts)));
        for (int r = 0; r < requests.Count; r++)
        {
            Assert.Equal(HttpStatusCode.OK, responses[r].StatusCode);
            var results = (await responses[r].Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results");
            Assert.Equal(requests[r].Count, results.GetArrayLength());
            for (int i = 0; i < requests[r].Count; i++)
            {
                var result = results[i];
                double expected = model.ExpectedScore(requests[r][i]);
                Assert.True(Math.Abs(expected - result.GetProperty("score").GetDouble()) <= 1e-5, $"request {r} text {i}: {result} vs {expected}");
                Assert.Equal(model.Reference.Tokenizer.Encode(requests[r][i]).Length, result.GetProperty("tokenCount").GetInt64());
                Assert.False(result.GetProperty("cached").GetBoolean());
            }
        }
        var metrics = await service.MetricsAsync();
        int texts = requests.Sum(r => r.Count);
        Assert.Equal(texts, metrics.Sum("scoring_batch_size_sum"));
        Assert.True(metrics.Sum("scoring_batch_size_count") < texts, $"concurrent requests should have shared a batch: {metrics.Text}");
    }

    [Fact]
    public async Task BadRequestsGetAClearStatusAndNoStackTrace()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath, o =>
        {
            o.MaxTextsPerRequest = 4;
            o.MaxRequestBytes = 4096;
            o.MaxNewTokens = 16;
            o.MaxTextCharacters = 1000;
        });
        string tooLong = string.Concat(Enumerable.Repeat("In the beginning ", 4));
        var cases = new (string Path, string Body, string ContentType, HttpStatusCode Status, string Mentions)[]
        {
            ("/v1/score", "{\"texts\": [", "application/json", HttpStatusCode.BadRequest, "not valid JSON"),
            ("/v1/score", "{\"texts\": [1]}", "application/json", HttpStatusCode.BadRequest, "'texts[0]' has the wrong type: it must be a string"),
            ("/v1/score", "{\"texts\": [\"a\"], \"model\": \"gpt-4\"}", "application/json", HttpStatusCode.BadRequest, "'model' is not part of this endpoint's request"),
            ("/v1/score", JsonSerializer.Serialize(new { texts = new[] { "fine", new string('a', 3000) } }), "application/json", HttpStatusCode.BadRequest, "texts[1] is 3000 characters long; at most 1000 are allowed (Scoring:MaxTextCharacters)"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": \"10\"}", "application/json", HttpStatusCode.BadRequest, "'maxTokens' has the wrong type: it must be an integer"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": 4, \"temperature\": \"0.5\"}", "application/json", HttpStatusCode.BadRequest, "'temperature' has the wrong type: it must be a number"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": 4, \"model\": \"gpt-4\"}", "application/json", HttpStatusCode.BadRequest, "'model' is not part of this endpoint's request"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": 4, \"temperature\": 1e308}", "application/json", HttpStatusCode.BadRequest, "temperature is 1E+308; it must be between 0 and 10"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": 4, \"temperature\": 1e400}", "application/json", HttpStatusCode.BadRequest, "temperature"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": 4, \"temperature\": 0.5, \"topK\": 100000}", "application/json", HttpStatusCode.BadRequest, "topK is 100000; it must be between 0 (off) and 1000"),
            ("/v1/generate", JsonSerializer.Serialize(new { prompt = new string('a', 1001), maxTokens = 4 }), "application/json", HttpStatusCode.BadRequest, "prompt is 1001 characters long; at most 1000"),
            ("/v1/score", "{}", "application/json", HttpStatusCode.BadRequest, "texts"),
            ("/v1/score", "{\"texts\": []}", "application/json", HttpStatusCode.BadRequest, "texts"),
            ("/v1/score", "{\"texts\": [\"a\", null]}", "application/json", HttpStatusCode.BadRequest, "texts[1]"),
            ("/v1/score", "{\"texts\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", "application/json", HttpStatusCode.BadRequest, "at most 4"),
            ("/v1/score", JsonSerializer.Serialize(new { texts = new[] { "fine", tooLong } }), "application/json", HttpStatusCode.BadRequest, "texts[1] is 68 tokens long; the model's context is 32"),
            ("/v1/score", "texts=a", "text/plain", HttpStatusCode.UnsupportedMediaType, "JSON"),
            ("/v1/score", JsonSerializer.Serialize(new { texts = new[] { new string('a', 5000) } }), "application/json", HttpStatusCode.RequestEntityTooLarge, "4096 bytes"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": 0}", "application/json", HttpStatusCode.BadRequest, "maxTokens"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": 17}", "application/json", HttpStatusCode.BadRequest, "between 1 and 16"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": 4, \"topP\": 0}", "application/json", HttpStatusCode.BadRequest, "topP is 0"),
            ("/v1/generate", "{\"maxTokens\": 4}", "application/json", HttpStatusCode.BadRequest, "prompt"),
            ("/v1/generate", "{\"prompt\": \"And\", \"maxTokens\": 4, \"temperature\": -1}", "application/json", HttpStatusCode.BadRequest, "temperature is -1"),
            ("/v1/generate", JsonSerializer.Serialize(new { prompt = tooLong, maxTokens = 4 }), "application/json", HttpStatusCode.BadRequest, "context is 32 tokens"),
        };
        foreach (var c in cases)
        {
            using var response = await service.Client.PostAsync(c.Path, new StringContent(c.Body, Encoding.UTF8, c.ContentType));
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(c.Status == response.StatusCode, $"{c.Path} {c.Body[..Math.Min(60, c.Body.Length)]}: {(int)response.StatusCode} {body}");
            Assert.True(body.Contains(c.Mentions, StringComparison.Ordinal), $"{c.Body[..Math.Min(60, c.Body.Length)]}: {body}");
            Assert.DoesNotContain("   at ", body);
            Assert.DoesNotContain("Exception", body);
            Assert.DoesNotContain("System.", body);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task AFullQueueAnswers503WithRetryAfter()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath, o =>
        {
            o.QueueCapacity = 3;
            o.MaxBatchWaitMilliseconds = 1000;
            o.MaxBatchSize = 64;
            o.RetryAfterSeconds = 2;
            o.CacheEnabled = false;
        });
        var waiting = service.ScoreAsync(model.Texts(2));
        await WaitUntil(service, m => m.Sum("scoring_queue_length") == 2);
        using var refused = await service.ScoreAsync(model.Texts(2, offset: 5));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(2), refused.Headers.RetryAfter?.Delta);
        Assert.Contains("queue is full", await refused.Content.ReadAsStringAsync());
        using var accepted = await waiting;
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        var metrics = await service.MetricsAsync();
        Assert.Equal(1, metrics.Sum("scoring_rejections_total", "reason=queue_full"));
        Assert.Equal(1, metrics.Sum("scoring_requests_total", "route=/v1/score", "status=503"));
        Assert.Equal(1, metrics.Sum("scoring_requests_total", "route=/v1/score", "status=200"));
    }

    [Fact]
    public async Task ACancelledRequestLeavesTheQueue()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath, o =>
        {
            o.MaxBatchWaitMilliseconds = 30_000;
            o.MaxBatchSize = 64;
            o.CacheEnabled = false;
        });
        using var cancel = new CancellationTokenSource();
        var request = service.ScoreAsync(model.Texts(3), cancel.Token);
        await WaitUntil(service, m => m.Sum("scoring_queue_length") == 3);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        var metrics = await WaitUntil(service, m => m.Sum("scoring_queue_length") == 0);
        Assert.Equal(3, metrics.Sum("scoring_cancelled_texts_total"));
        Assert.Equal(0, metrics.Sum("scoring_batch_size_count"));
    }

    [Fact]
    public async Task RepeatedTextsAreAnsweredFromTheMemoryCache()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath);
        var texts = model.Texts(2, offset: 40);
        var first = await (await service.ScoreAsync(texts)).Content.ReadFromJsonAsync<JsonElement>();
        var second = await (await service.ScoreAsync(new[] { texts[1], model.Texts(1, offset: 60)[0] })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(first.GetProperty("results")[1].GetProperty("cached").GetBoolean());
        Assert.True(second.GetProperty("results")[0].GetProperty("cached").GetBoolean());
        Assert.False(second.GetProperty("results")[1].GetProperty("cached").GetBoolean());
        Assert.Equal(first.GetProperty("results")[1].GetProperty("score").GetDouble(), second.GetProperty("results")[0].GetProperty("score").GetDouble());
        var metrics = await service.MetricsAsync();
        Assert.Equal(1, metrics.Sum("scoring_cache_hits_total"));
        Assert.Equal(3, metrics.Sum("scoring_cache_misses_total"));
        var (_, readiness) = await service.ReadinessAsync();
        Assert.False(readiness.GetProperty("checks").TryGetProperty("redis", out _), "no Redis is configured, so readiness has no Redis check");
    }

    [Fact]
    public async Task ResultsRoundTripThroughRedisBetweenServiceInstances()
    {
        using var redis = new RedisServer();
        string instance = $"test-{Guid.NewGuid():N}:";
        var texts = model.Texts(2, offset: 80);
        double firstScore;
        // Until its first connection and PING finish within the Redis timeout, an instance reports Redis Degraded (and
        // answers from compute); on a busy machine the first connection can take longer than that timeout.
        async Task WaitForRedis(RunningService service, string which)
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                var (status, readiness) = await service.ReadinessAsync();
                Assert.Equal(HttpStatusCode.OK, status);
                if (readiness.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString() == "Healthy") return;
                Assert.True(DateTime.UtcNow < deadline, $"the {which} instance never reached Redis");
                await Task.Delay(50);
            }
        }
        await using (var writer = await RunningService.StartAsync(model.ModelPath, o => { o.RedisConnectionString = redis.ConnectionString; o.RedisInstanceName = instance; }))
        {
            await WaitForRedis(writer, "first");
            var first = (await (await writer.ScoreAsync(texts)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results");
            Assert.False(first[0].GetProperty("cached").GetBoolean());
            firstScore = first[0].GetProperty("score").GetDouble();
            // Writes to Redis leave the request path: wait until both results are stored.
            using var redisClient = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
            var server = redisClient.GetServer(redisClient.GetEndPoints()[0]);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (server.Keys(pattern: instance + "*").Count() < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "the results never reached Redis");
                await Task.Delay(20);
            }
        }
        // A new service process has an empty memory: a hit can only come from Redis.
        await using var reader = await RunningService.StartAsync(model.ModelPath, o => { o.RedisConnectionString = redis.ConnectionString; o.RedisInstanceName = instance; });
        // Until its Redis connection is up a new instance answers from compute (a miss): wait for readiness to report Redis.
        await WaitForRedis(reader, "second");
        var again = (await (await reader.ScoreAsync(texts)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results");
        Assert.True(again[0].GetProperty("cached").GetBoolean());
        Assert.True(again[1].GetProperty("cached").GetBoolean());
        Assert.Equal(firstScore, again[0].GetProperty("score").GetDouble());
        var metrics = await reader.MetricsAsync();
        Assert.Equal(0, metrics.Sum("scoring_cache_errors_total"));
        Assert.Equal(2, metrics.Sum("scoring_cache_hits_total"));
    }

    [Fact]
    public async Task ShutdownFinishesTheRequestsInFlight()
    {
        var service = await RunningService.StartAsync(model.ModelPath, o =>
        {
            o.MaxBatchWaitMilliseconds = 30_000;
            o.MaxBatchSize = 64;
            o.CacheEnabled = false;
        });
        await using var _ = service;
        var texts = model.Texts(6, offset: 120);
        var inFlight = texts.Select(t => service.ScoreAsync(new[] { t })).ToList();
        await WaitUntil(service, m => m.Sum("scoring_queue_length") == texts.Count);
        await service.StopAsync();
        for (int i = 0; i < texts.Count; i++)
        {
            using var response = await inFlight[i];
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            double score = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results")[0].GetProperty("score").GetDouble();
            Assert.True(Math.Abs(model.ExpectedScore(texts[i]) - score) <= 1e-5);
        }
        await Assert.ThrowsAsync<HttpRequestException>(() => service.ScoreAsync(texts));
    }

    [Fact]
    public async Task GenerationMatchesTheTransformerAndStreamsTheSameText()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath);
        const string prompt = "And God said";
        string expected = model.Reference.Generate(prompt, new GenerationOptions { MaxNewTokens = 12, Temperature = 0 });
        var plain = await (await service.Client.PostAsJsonAsync("/v1/generate", new { prompt, maxTokens = 12 })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(expected, plain.GetProperty("text").GetString());
        Assert.False(plain.GetProperty("cached").GetBoolean());
        var repeated = await (await service.Client.PostAsJsonAsync("/v1/generate", new { prompt, maxTokens = 12 })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(repeated.GetProperty("cached").GetBoolean());
        Assert.Equal(expected, repeated.GetProperty("text").GetString());

        using var streamed = await service.Client.PostAsJsonAsync("/v1/generate", new { prompt, maxTokens = 12, stream = true });
        Assert.Equal("text/event-stream", streamed.Content.Headers.ContentType?.MediaType);
        var pieces = new StringBuilder();
        JsonElement? done = null;
        await foreach (var item in SseParser.Create(await streamed.Content.ReadAsStreamAsync()).EnumerateAsync())
        {
            var data = JsonDocument.Parse(item.Data).RootElement;
            if (item.EventType == "message") pieces.Append(data.GetProperty("text").GetString());
            else if (item.EventType == "done") done = data;
        }
        Assert.NotNull(done);
        Assert.Equal(expected, pieces.ToString());
        Assert.Equal(expected, done.Value.GetProperty("text").GetString());

        var seeded = new { prompt, maxTokens = 10, temperature = 0.9, topK = 20, seed = 5 };
        var a = await (await service.Client.PostAsJsonAsync("/v1/generate", seeded)).Content.ReadFromJsonAsync<JsonElement>();
        string sampled = model.Reference.Generate(prompt, new GenerationOptions { MaxNewTokens = 10, Temperature = 0.9, TopK = 20, Seed = 5 });
        Assert.Equal(sampled, a.GetProperty("text").GetString());
    }

    [Fact]
    public async Task AnApiKeyGuardsEverythingButHealth()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath, o => o.ApiKey = "s3cret");
        foreach (string path in new[] { "/health/live", "/health/ready", "/healthz" })
        {
            using var health = await service.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
        using var missing = await service.ScoreAsync(model.Texts(1));
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        using var wrongRequest = new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { { "X-Api-Key", "s3cre" } } };
        Assert.Equal(HttpStatusCode.Unauthorized, (await service.Client.SendAsync(wrongRequest)).StatusCode);
        using var rightRequest = new HttpRequestMessage(HttpMethod.Post, "/v1/score") { Content = JsonContent.Create(new { texts = model.Texts(1) }), Headers = { { "X-Api-Key", "s3cret" } } };
        Assert.Equal(HttpStatusCode.OK, (await service.Client.SendAsync(rightRequest)).StatusCode);
    }

    [Fact]
    public async Task ABatchStartsWhenArrivalsPauseInsteadOfWaitingTheFullTime()
    {
        // A 10-minute longest wait: without the arrival-gap rule these requests would wait it out.
        await using var service = await RunningService.StartAsync(model.ModelPath, o =>
        {
            o.MaxBatchSize = 64;
            o.MaxBatchWaitMilliseconds = 600_000;
            o.BatchArrivalGapMilliseconds = 300;
            o.CacheEnabled = false;
        });
        using var lone = await service.ScoreAsync(model.Texts(1, offset: 70)).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(HttpStatusCode.OK, lone.StatusCode);

        var burst = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => service.ScoreAsync(model.Texts(1, offset: 80 + i)))).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.All(burst, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var metrics = await service.MetricsAsync();
        Assert.Equal(11, metrics.Sum("scoring_batch_size_sum"));
        Assert.True(metrics.Sum("scoring_batch_size_count") < 11, "the burst should not run text by text");
    }

    private static async Task<PrometheusScrape> WaitUntil(RunningService service, Func<PrometheusScrape, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var metrics = await service.MetricsAsync();
            if (condition(metrics)) return metrics;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"The service never reached the expected state: {metrics.Text}");
            await Task.Delay(20);
        }
    }
}
