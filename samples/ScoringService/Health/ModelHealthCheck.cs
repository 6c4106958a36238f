using Microsoft.Extensions.Diagnostics.HealthChecks;
using MLNet.MoE.Samples.ScoringService.Backends;

namespace MLNet.MoE.Samples.ScoringService.Health;

/// <summary>Readiness: the model is loaded (it is, once the service has started), with what it is.</summary>
public sealed class ModelHealthCheck : IHealthCheck
{
    private readonly IScoringBackend backend;

    /// <summary>Checks <paramref name="backend"/>.</summary>
    public ModelHealthCheck(IScoringBackend backend) => this.backend = backend;

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(HealthCheckResult.Healthy($"A {backend.Kind} model is loaded.", new Dictionary<string, object>
        {
            ["kind"] = backend.Kind,
            ["modelId"] = backend.ModelId,
            ["contextLength"] = backend.ContextLength,
            ["canGenerate"] = backend.CanGenerate,
        }));
}
