using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>
/// Redis fails (killed under load, hanging, or never there): requests keep succeeding without waiting out Redis, readiness
/// reports the cache as degraded, the outage is logged once when it starts and once when it ends, and the service uses
/// Redis again by itself when it comes back. (A Redis client waiting out its timeouts took 5 to 11 s a request.)
/// </summary>
[Collection(ServiceCollection.Name)]
public class RedisOutageTests
{
    /// <summary>No request may take this long: well under one wait of a default Redis client timeout (5 s).</summary>
    private static readonly TimeSpan SlowestAcceptable = TimeSpan.FromSeconds(2.5);
    private readonly TrainedModelFixture model;

    public RedisOutageTests(TrainedModelFixture model) => this.model = model;

    [Fact]
    public async Task KillingRedisUnderLoadKeepsRequestsSucceedingAndRecoversByItself()
    {
        using var redis = RedisServer.StartOwn();
        await using var service = await RunningService.StartAsync(model.ModelPath, o =>
        {
            o.RedisConnectionString = redis.ConnectionString;
            o.RedisInstanceName = $"outage-{Guid.NewGuid():N}:";
            o.RedisBreakSeconds = 1;
            o.MaxBatchSize = 16;
        });
        Assert.Equal(HttpStatusCode.OK, (await service.ScoreAsync(model.Texts(1, offset: 1000))).StatusCode);
        // The first connection and PING can outlast the Redis timeout on a busy machine: readiness says Degraded until then.
        await WaitUntil(async () => RedisStatus((await service.ReadinessAsync()).Body) == "Healthy", "Redis never became ready.");

        var load = new Load(service, model, clients: 6);
        var loading = load.RunAsync();
        await Task.Delay(1500);
        var healthyLatencies = load.Latencies();
        redis.Kill();
        await Task.Delay(3000);
        var (status, readiness) = await service.ReadinessAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Degraded", readiness.GetProperty("status").GetString());
        Assert.Equal("Degraded", RedisStatus(readiness));
        int duringOutage = load.Latencies().Count;
        var outageLatencies = load.Latencies().Skip(healthyLatencies.Count).ToList();

        redis.Start();
        await WaitUntil(async () => RedisStatus((await service.ReadinessAsync()).Body) == "Healthy" && Logged(service, "answers again") == 1, "Redis was never used again after it came back.");
        load.Stop();
        await loading;

        Assert.Empty(load.Failures);
        Assert.True(load.Latencies().Count > duringOutage, "requests kept being answered after Redis came back");
        Assert.True(outageLatencies.Count >= 10, $"only {outageLatencies.Count} requests were answered while Redis was down");
        Assert.All(load.Latencies(), l => Assert.True(l < SlowestAcceptable, $"a request took {l.TotalMilliseconds:F0} ms"));
        var healthyMedian = Median(healthyLatencies);
        var outageMedian = Median(outageLatencies);
        Assert.True(outageMedian <= healthyMedian * 3 + TimeSpan.FromMilliseconds(300),
            $"median latency went from {healthyMedian.TotalMilliseconds:F0} ms to {outageMedian.TotalMilliseconds:F0} ms while Redis was down");
        Assert.True(Logged(service, "is unreachable") == 1, Warnings(service));
        Assert.Equal(1, Logged(service, "answers again"));
        Assert.DoesNotContain(service.Logs.Collector.GetSnapshot(), r => r.Level >= LogLevel.Warning && r.Exception != null);
        Assert.True((await service.MetricsAsync()).Sum("scoring_cache_errors_total") > 0);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ARedisThatHangsOrIsAbsentFromTheStartCostsNoWaiting(bool hangs)
    {
        using var blackHole = new BlackHoleListener();
        string connection = hangs ? blackHole.ConnectionString : $"127.0.0.1:{RedisServer.FreePort()}";
        await using var service = await RunningService.StartAsync(model.ModelPath, o =>
        {
            o.RedisConnectionString = connection;
            o.MaxBatchSize = 1;
        });
        var texts = model.Texts(12, offset: 1100);
        foreach (string text in texts.Concat(texts.Take(4)))
        {
            var clock = Stopwatch.StartNew();
            using var response = await service.ScoreAsync(new[] { text });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(clock.Elapsed < SlowestAcceptable, $"a request took {clock.Elapsed.TotalMilliseconds:F0} ms");
        }
        var (status, readiness) = await service.ReadinessAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Degraded", RedisStatus(readiness));
        var metrics = await service.MetricsAsync();
        Assert.Equal(4, metrics.Sum("scoring_cache_hits_total"));
        Assert.True(metrics.Sum("scoring_cache_errors_total") > 0);
        // Cache writes fail in the background, after their answers went out: on a busy machine the failures that open
        // the circuit (and log the outage) may still be under way here.
        await WaitUntil(() => Task.FromResult(Logged(service, "is unreachable") > 0), "The outage was never logged.");
        Assert.True(Logged(service, "is unreachable") == 1, Warnings(service));
        Assert.DoesNotContain(service.Logs.Collector.GetSnapshot(), r => r.Level >= LogLevel.Warning && r.Exception != null);
    }

    private static string? RedisStatus(JsonElement readiness) => readiness.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString();

    private static int Logged(RunningService service, string words) => service.Logs.Collector.GetSnapshot().Count(r => r.Message.Contains(words, StringComparison.Ordinal));

    /// <summary>Every log entry at Warning or above, as "category: message".</summary>
    private static string Warnings(RunningService service) =>
        string.Join("\n", service.Logs.Collector.GetSnapshot().Where(r => r.Level >= LogLevel.Warning).Select(r => $"{r.Category}: {r.Message}"));

    private static TimeSpan Median(IReadOnlyList<TimeSpan> values) => values.Count == 0 ? TimeSpan.Zero : values.Order().ElementAt(values.Count / 2);

    private static async Task WaitUntil(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(failure);
            await Task.Delay(100);
        }
    }

    /// <summary>Closed-loop clients, each scoring one new text at a time until stopped.</summary>
    private sealed class Load
    {
        private readonly RunningService service;
        private readonly TrainedModelFixture model;
        private readonly int clients;
        private readonly List<TimeSpan> latencies = new();
        private readonly CancellationTokenSource stop = new();
        private int next;

        public Load(RunningService service, TrainedModelFixture model, int clients)
        {
            this.service = service;
            this.model = model;
            this.clients = clients;
        }

        public List<string> Failures { get; } = new();

        public List<TimeSpan> Latencies()
        {
            lock (latencies) return latencies.ToList();
        }

        public void Stop() => stop.Cancel();

        public Task RunAsync() => Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                string text = model.Texts(1, offset: 2000 + Interlocked.Increment(ref next))[0];
                var clock = Stopwatch.StartNew();
                using var response = await service.ScoreAsync(new[] { text });
                var elapsed = clock.Elapsed;
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    string failure = $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}";
                    lock (Failures) Failures.Add(failure);
                }
                lock (latencies) latencies.Add(elapsed);
            }
        })));
    }
}
