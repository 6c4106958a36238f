using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MLNet.MoE.Samples.ScoringService.Caching;

/// <summary>
/// The service's one Redis connection, opened on first use with short timeouts
/// (<see cref="ScoringServiceOptions.RedisTimeoutMilliseconds"/> to connect, and for each command), commands that fail at
/// once rather than queue while Redis is away, and reconnection in the background. Shared by the cache and the readiness check.
/// </summary>
public sealed class RedisConnection : IDisposable
{
    private readonly ConfigurationOptions configuration;
    private readonly Lazy<Task<IConnectionMultiplexer>> connection;

    /// <summary>Reads the connection string and timeouts from the options.</summary>
    public RedisConnection(IOptions<ScoringServiceOptions> options)
    {
        var settings = options.Value;
        configuration = ConfigurationOptions.Parse(settings.RedisConnectionString ?? throw new InvalidOperationException($"{ScoringServiceOptions.SectionName}:{nameof(ScoringServiceOptions.RedisConnectionString)} is not set."));
        // Keep trying in the background instead of failing the first call for good; never queue commands while disconnected.
        configuration.AbortOnConnectFail = false;
        configuration.BacklogPolicy = BacklogPolicy.FailFast;
        configuration.ConnectTimeout = settings.RedisTimeoutMilliseconds;
        configuration.SyncTimeout = settings.RedisTimeoutMilliseconds;
        configuration.AsyncTimeout = settings.RedisTimeoutMilliseconds;
        configuration.ConnectRetry = 1;
        Endpoint = string.Join(",", configuration.EndPoints.Select(e => e.ToString()));
        connection = new Lazy<Task<IConnectionMultiplexer>>(async () => await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false));
    }

    /// <summary>The configured endpoints, for log lines (never the password).</summary>
    public string Endpoint { get; }

    /// <summary>The connection (opened on the first call; the returned multiplexer reconnects by itself).</summary>
    public Task<IConnectionMultiplexer> GetAsync() => connection.Value;

    /// <summary>True once the first connection attempt has ended (whether or not Redis answered).</summary>
    public bool IsOpened => connection.IsValueCreated && connection.Value.IsCompleted;

    /// <summary>Starts the first connection attempt, if it has not started, without waiting for it.</summary>
    public void StartConnecting() => _ = connection.Value;

    /// <summary>Closes the connection if it was opened.</summary>
    public void Dispose()
    {
        if (connection.IsValueCreated && connection.Value.IsCompletedSuccessfully) connection.Value.Result.Dispose();
    }
}
