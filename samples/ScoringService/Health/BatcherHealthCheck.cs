using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Batching;

namespace MLNet.MoE.Samples.ScoringService.Health;

/// <summary>
/// Readiness: the batcher's worker runs and takes work, and its queue is below
/// <see cref="ScoringServiceOptions.QueueSaturationFraction"/> of its capacity (above it, a load balancer should send
/// new work elsewhere until the queue drains).
/// </summary>
public sealed class BatcherHealthCheck : IHealthCheck
{
    private readonly ScoreBatcher batcher;
    private readonly ScoringServiceOptions options;

    /// <summary>Checks <paramref name="batcher"/>.</summary>
    public BatcherHealthCheck(ScoreBatcher batcher, IOptions<ScoringServiceOptions> options)
    {
        this.batcher = batcher;
        this.options = options.Value;
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        int length = batcher.QueueLength;
        int saturated = Math.Max(1, (int)Math.Ceiling(options.QueueCapacity * options.QueueSaturationFraction));
        var data = new Dictionary<string, object>
        {
            ["queueLength"] = length,
            ["queueCapacity"] = options.QueueCapacity,
            ["maxBatchSize"] = options.MaxBatchSize,
            ["maxBatchWaitMilliseconds"] = options.MaxBatchWaitMilliseconds,
        };
        if (!batcher.IsRunning) return Task.FromResult(HealthCheckResult.Unhealthy("The batcher is not running (stopped or stopping).", data: data));
        if (length >= saturated) return Task.FromResult(HealthCheckResult.Unhealthy($"The queue is saturated: {length} of {options.QueueCapacity} texts waiting.", data: data));
        return Task.FromResult(HealthCheckResult.Healthy($"{length} of {options.QueueCapacity} texts waiting.", data));
    }
}
