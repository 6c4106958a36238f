using System.Collections.Concurrent;
using System.Diagnostics;

namespace MLNet.MoE.Samples.ScoringService.Diagnostics;

/// <summary>Counters and latency windows of the service, read by <c>GET /metrics</c>.</summary>
public sealed class ServiceMetrics
{
    private readonly Stopwatch uptime = Stopwatch.StartNew();
    private readonly ConcurrentDictionary<string, long> responses = new();
    private long queueFull;
    private long generationsBusy;
    private long cancelledTexts;
    private long cacheHits;
    private long cacheMisses;
    private long cacheErrors;
    private long scoredTokens;
    private long scoringTicks;
    private long generatedTokens;
    private long generationTicks;

    /// <summary>Texts per batch.</summary>
    public SampleWindow BatchSize { get; } = new();

    /// <summary>Milliseconds a text waited in the queue before its batch ran.</summary>
    public SampleWindow QueueWaitMilliseconds { get; } = new();

    /// <summary>Milliseconds per batch forward pass.</summary>
    public SampleWindow BatchMilliseconds { get; } = new();

    /// <summary>Request latency per endpoint, in milliseconds.</summary>
    public ConcurrentDictionary<string, SampleWindow> LatencyMilliseconds { get; } = new();

    /// <summary>Counts a response of <paramref name="endpoint"/> with <paramref name="status"/> and its latency.</summary>
    public void Response(string endpoint, int status, double milliseconds)
    {
        responses.AddOrUpdate($"{endpoint} {status}", 1, (_, n) => n + 1);
        if (status == 200) LatencyMilliseconds.GetOrAdd(endpoint, _ => new SampleWindow()).Add(milliseconds);
    }

    /// <summary>Counts a request refused because the queue was full.</summary>
    public void QueueFull() => Interlocked.Increment(ref queueFull);

    /// <summary>Counts a generation refused because all generation slots were busy.</summary>
    public void GenerationsBusy() => Interlocked.Increment(ref generationsBusy);

    /// <summary>Counts texts removed from the queue because their client went away.</summary>
    public void Cancelled(int texts) => Interlocked.Add(ref cancelledTexts, texts);

    /// <summary>Counts cache hits, misses and failures (a failure is served as a miss).</summary>
    public void Cache(int hits, int misses, int errors = 0)
    {
        Interlocked.Add(ref cacheHits, hits);
        Interlocked.Add(ref cacheMisses, misses);
        Interlocked.Add(ref cacheErrors, errors);
    }

    /// <summary>Records one scoring batch.</summary>
    public void Batch(int texts, long tokens, TimeSpan elapsed)
    {
        BatchSize.Add(texts);
        BatchMilliseconds.Add(elapsed.TotalMilliseconds);
        Interlocked.Add(ref scoredTokens, tokens);
        Interlocked.Add(ref scoringTicks, elapsed.Ticks);
    }

    /// <summary>Records one generation.</summary>
    public void Generation(int tokens, TimeSpan elapsed)
    {
        Interlocked.Add(ref generatedTokens, tokens);
        Interlocked.Add(ref generationTicks, elapsed.Ticks);
    }

    /// <summary>Cache hits so far.</summary>
    public long CacheHits => Interlocked.Read(ref cacheHits);

    /// <summary>Cache misses so far.</summary>
    public long CacheMisses => Interlocked.Read(ref cacheMisses);

    /// <summary>A JSON-ready snapshot.</summary>
    public object Snapshot(int queueLength)
    {
        long hits = CacheHits, misses = CacheMisses;
        double scoringSeconds = TimeSpan.FromTicks(Interlocked.Read(ref scoringTicks)).TotalSeconds;
        double generationSeconds = TimeSpan.FromTicks(Interlocked.Read(ref generationTicks)).TotalSeconds;
        return new
        {
            uptimeSeconds = uptime.Elapsed.TotalSeconds,
            responses = responses.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary(p => p.Key, p => p.Value),
            rejected = new { queueFull = Interlocked.Read(ref queueFull), generationsBusy = Interlocked.Read(ref generationsBusy) },
            cancelledTexts = Interlocked.Read(ref cancelledTexts),
            queueLength,
            batchSize = BatchSize.Summarize(),
            batchMilliseconds = BatchMilliseconds.Summarize(),
            queueWaitMilliseconds = QueueWaitMilliseconds.Summarize(),
            latencyMilliseconds = LatencyMilliseconds.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary(p => p.Key, p => p.Value.Summarize()),
            tokensPerSecond = new
            {
                scoring = scoringSeconds == 0 ? 0 : Interlocked.Read(ref scoredTokens) / scoringSeconds,
                generation = generationSeconds == 0 ? 0 : Interlocked.Read(ref generatedTokens) / generationSeconds,
            },
            cache = new { hits, misses, errors = Interlocked.Read(ref cacheErrors), hitRate = hits + misses == 0 ? 0 : (double)hits / (hits + misses) },
        };
    }
}
