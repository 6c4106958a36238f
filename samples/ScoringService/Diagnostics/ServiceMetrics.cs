using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace MLNet.MoE.Samples.ScoringService.Diagnostics;

/// <summary>
/// The service's instruments on the <see cref="MeterName"/> meter (System.Diagnostics.Metrics), exported by OpenTelemetry's
/// Prometheus endpoint <c>GET /metrics</c> and readable with <c>dotnet-counters monitor --counters MLNet.MoE.ScoringService</c>.
/// Durations are in seconds, as OpenTelemetry's conventions ask; Prometheus names get the unit and <c>_total</c> suffixes.
/// </summary>
public sealed class ServiceMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "MLNet.MoE.ScoringService";

    private static readonly double[] SecondsBuckets = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
    private static readonly int[] BatchSizeBuckets = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512 };
    private readonly Counter<long> requests;
    private readonly Histogram<double> requestDuration;
    private readonly Histogram<int> batchSize;
    private readonly Histogram<double> batchDuration;
    private readonly Histogram<double> queueWait;
    private readonly Counter<long> rejections;
    private readonly Counter<long> cancelledTexts;
    private readonly Counter<long> cacheHits;
    private readonly Counter<long> cacheMisses;
    private readonly Counter<long> cacheErrors;
    private readonly Counter<long> scoredTokens;
    private readonly Counter<long> generatedTokens;
    private readonly Histogram<double> generationDuration;
    private Func<int> queueLength = () => 0;
    private Func<int> generationSlotsInUse = () => 0;

    /// <summary>Creates the instruments on a meter of <paramref name="meterFactory"/> (the host's, so each host has its own meter).</summary>
    public ServiceMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        requests = meter.CreateCounter<long>("scoring.requests", "{request}", "HTTP requests answered, by route and status code.");
        requestDuration = meter.CreateHistogram("scoring.request.duration", "s", "Time to answer an API request, by route and status code.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        batchSize = meter.CreateHistogram("scoring.batch.size", "{text}", "Texts scored in one batch (one backend call).",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchSizeBuckets });
        batchDuration = meter.CreateHistogram("scoring.batch.duration", "s", "Compute time of one scoring batch.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        queueWait = meter.CreateHistogram("scoring.queue.wait", "s", "Time a text waited in the queue before its batch ran.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        meter.CreateObservableGauge("scoring.queue.length", () => queueLength(), "{text}", "Texts waiting to be scored now.");
        meter.CreateObservableGauge("scoring.generation.slots_in_use", () => generationSlotsInUse(), "{generation}", "Generations running now.");
        rejections = meter.CreateCounter<long>("scoring.rejections", "{request}", "Requests refused with 503, by reason (queue_full, generations_busy).");
        cancelledTexts = meter.CreateCounter<long>("scoring.cancelled_texts", "{text}", "Texts removed from the queue because their client went away.");
        cacheHits = meter.CreateCounter<long>("scoring.cache.hits", "{lookup}", "Results answered from the cache.");
        cacheMisses = meter.CreateCounter<long>("scoring.cache.misses", "{lookup}", "Cache lookups that found nothing (computed instead).");
        cacheErrors = meter.CreateCounter<long>("scoring.cache.errors", "{operation}", "Redis operations that failed, timed out or were skipped while Redis was unreachable.");
        scoredTokens = meter.CreateCounter<long>("scoring.scored_tokens", "{token}", "Tokens scored by the backend.");
        generatedTokens = meter.CreateCounter<long>("scoring.generated_tokens", "{token}", "Tokens generated.");
        generationDuration = meter.CreateHistogram("scoring.generation.duration", "s", "Time of one generation.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
    }

    /// <summary>Tells the queue-length gauge where to read.</summary>
    public void ObserveQueue(Func<int> queueLength) => this.queueLength = queueLength;

    /// <summary>Tells the generation-slots gauge where to read.</summary>
    public void ObserveGenerationSlots(Func<int> generationSlotsInUse) => this.generationSlotsInUse = generationSlotsInUse;

    /// <summary>Counts a response of <paramref name="route"/> with <paramref name="status"/> and records its latency.</summary>
    public void Response(string route, int status, TimeSpan elapsed)
    {
        var tags = new TagList { { "route", route }, { "status", status } };
        requests.Add(1, tags);
        requestDuration.Record(elapsed.TotalSeconds, tags);
    }

    /// <summary>Counts a request refused with 503 for <paramref name="reason"/> (<c>queue_full</c> or <c>generations_busy</c>).</summary>
    public void Rejected(string reason) => rejections.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>Counts texts removed from the queue because their client went away.</summary>
    public void Cancelled(int texts) => cancelledTexts.Add(texts);

    /// <summary>Records how long a text waited in the queue.</summary>
    public void QueueWait(TimeSpan waited) => queueWait.Record(waited.TotalSeconds);

    /// <summary>Counts cache hits and misses.</summary>
    public void Cache(int hits, int misses)
    {
        if (hits > 0) cacheHits.Add(hits);
        if (misses > 0) cacheMisses.Add(misses);
    }

    /// <summary>Counts a failed (or skipped) Redis operation, by operation (<c>get</c>, <c>set</c>, <c>refresh</c>, <c>remove</c>).</summary>
    public void CacheError(string operation) => cacheErrors.Add(1, new KeyValuePair<string, object?>("operation", operation));

    /// <summary>Records one scoring batch.</summary>
    public void Batch(int texts, long tokens, TimeSpan elapsed)
    {
        batchSize.Record(texts);
        batchDuration.Record(elapsed.TotalSeconds);
        scoredTokens.Add(tokens);
    }

    /// <summary>Records one generation.</summary>
    public void Generation(int tokens, TimeSpan elapsed)
    {
        generatedTokens.Add(tokens);
        generationDuration.Record(elapsed.TotalSeconds);
    }
}
