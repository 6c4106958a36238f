using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Diagnostics;
using Polly;
using Polly.CircuitBreaker;

namespace MLNet.MoE.Samples.ScoringService.Caching;

/// <summary>
/// Runs Redis calls through a Polly pipeline: a timeout of <see cref="ScoringServiceOptions.RedisTimeoutMilliseconds"/>
/// inside a circuit breaker that, once <see cref="ScoringServiceOptions.RedisFailuresBeforeBreak"/> calls have failed
/// (at least half of those within 10 seconds), skips Redis for <see cref="ScoringServiceOptions.RedisBreakSeconds"/>,
/// then lets one call try again. A failed or skipped call is reported as failed, never thrown, so a Redis outage costs a
/// request at most one timeout and, once the breaker is open, nothing. The outage is logged once when it starts (with the
/// reason, no stack trace) and once when Redis answers again.
/// </summary>
public sealed class RedisAvailability
{
    private readonly ResiliencePipeline pipeline;
    private readonly ILogger<RedisAvailability> logger;
    private readonly ServiceMetrics metrics;
    private readonly string endpoint;
    private readonly object gate = new();
    private DateTimeOffset? outageSince;

    /// <summary>Builds the pipeline from the options.</summary>
    public RedisAvailability(IOptions<ScoringServiceOptions> options, RedisConnection connection, ServiceMetrics metrics, ILogger<RedisAvailability> logger)
    {
        var settings = options.Value;
        this.logger = logger;
        this.metrics = metrics;
        endpoint = connection.Endpoint;
        var breakDuration = TimeSpan.FromSeconds(settings.RedisBreakSeconds);
        pipeline = new ResiliencePipelineBuilder()
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = settings.RedisFailuresBeforeBreak,
                SamplingDuration = TimeSpan.FromSeconds(10),
                BreakDuration = breakDuration,
                OnOpened = args =>
                {
                    StartOutage(args.Outcome.Exception, breakDuration);
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    EndOutage();
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(TimeSpan.FromMilliseconds(settings.RedisTimeoutMilliseconds))
            .Build();
    }

    /// <summary>When the current outage started; null while Redis answers.</summary>
    public DateTimeOffset? OutageSince
    {
        get
        {
            lock (gate) return outageSince;
        }
    }

    /// <summary>
    /// Runs <paramref name="call"/> (named <paramref name="operation"/> in metrics) unless the breaker is open; returns
    /// false, without throwing, when it failed, timed out or was skipped. Throws only when <paramref name="cancellation"/> fires.
    /// </summary>
    public async Task<(bool Succeeded, T? Value)> TryAsync<T>(string operation, Func<CancellationToken, Task<T>> call, CancellationToken cancellation)
    {
        try
        {
            // WaitAsync: the timeout holds even where the client does not observe the token.
            T value = await pipeline.ExecuteAsync(async token => await call(token).WaitAsync(token).ConfigureAwait(false), cancellation).ConfigureAwait(false);
            return (true, value);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // BrokenCircuitException (skipped), TimeoutRejectedException, or the client's own error: all mean "no answer".
            metrics.CacheError(operation);
            logger.LogDebug("Redis {Operation} failed: {Reason}", operation, e.Message);
            return (false, default);
        }
    }

    private void StartOutage(Exception? reason, TimeSpan breakDuration)
    {
        lock (gate)
        {
            if (outageSince != null) return;
            outageSince = DateTimeOffset.UtcNow;
        }
        logger.LogWarning("Redis at {Endpoint} is unreachable ({Reason}); answering from the in-process cache and the model, and trying Redis again every {BreakSeconds} s.",
            endpoint, reason?.Message ?? "no answer", breakDuration.TotalSeconds);
    }

    private void EndOutage()
    {
        DateTimeOffset since;
        lock (gate)
        {
            if (outageSince is not { } started) return;
            since = started;
            outageSince = null;
        }
        logger.LogInformation("Redis at {Endpoint} answers again after {Seconds:F1} s unreachable; the cache uses it again.", endpoint, (DateTimeOffset.UtcNow - since).TotalSeconds);
    }
}
