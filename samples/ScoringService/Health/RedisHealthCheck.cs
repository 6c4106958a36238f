using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Caching;

namespace MLNet.MoE.Samples.ScoringService.Health;

/// <summary>
/// Readiness: Redis answers a PING within <see cref="ScoringServiceOptions.RedisTimeoutMilliseconds"/>. An unreachable
/// Redis is reported <c>Degraded</c>, not <c>Unhealthy</c>: the service answers without it (from memory and the model).
/// While the cache's circuit breaker is open the check does not wait on Redis.
/// </summary>
public sealed class RedisHealthCheck : IHealthCheck
{
    private readonly RedisConnection connection;
    private readonly RedisAvailability availability;
    private readonly TimeSpan timeout;

    /// <summary>Checks the service's Redis connection.</summary>
    public RedisHealthCheck(RedisConnection connection, RedisAvailability availability, IOptions<ScoringServiceOptions> options)
    {
        this.connection = connection;
        this.availability = availability;
        timeout = TimeSpan.FromMilliseconds(options.Value.RedisTimeoutMilliseconds);
    }

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["endpoint"] = connection.Endpoint };
        if (availability.OutageSince is { } since)
        {
            data["unreachableSince"] = since.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
            return HealthCheckResult.Degraded($"Redis is unreachable since {since:O}; the service answers from memory and the model.", data: data);
        }
        try
        {
            var redis = await connection.GetAsync().WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            data["pingMilliseconds"] = latency.TotalMilliseconds;
            return HealthCheckResult.Healthy("Redis answers.", data);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Degraded($"Redis does not answer ({e.Message}); the service answers from memory and the model.", data: data);
        }
    }
}
