using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Diagnostics;

namespace MLNet.MoE.Samples.ScoringService.Caching;

/// <summary>
/// The second-level (Redis) store under the service's <c>HybridCache</c>: every call goes through
/// <see cref="RedisAvailability"/> (short timeout, circuit breaker), a failed read is a miss, and writes leave the request
/// path: they run in the background, at most <see cref="ScoringServiceOptions.RedisMaxPendingWrites"/> at once, and are
/// dropped (counted) beyond that. While the first connection attempt is under way, reads are misses and writes wait for
/// it in the background. So the service answers whether or not Redis does.
/// </summary>
public sealed class ResilientDistributedCache : IDistributedCache
{
    private readonly IDistributedCache inner;
    private readonly RedisConnection connection;
    private readonly RedisAvailability availability;
    private readonly ServiceMetrics metrics;
    private readonly SemaphoreSlim writeSlots;

    /// <summary>Wraps <paramref name="inner"/> (the Redis cache).</summary>
    public ResilientDistributedCache(IDistributedCache inner, RedisConnection connection, RedisAvailability availability, ServiceMetrics metrics, IOptions<ScoringServiceOptions> options)
    {
        this.inner = inner;
        this.connection = connection;
        this.availability = availability;
        this.metrics = metrics;
        writeSlots = new SemaphoreSlim(options.Value.RedisMaxPendingWrites);
    }

    /// <inheritdoc />
    public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        if (!connection.IsOpened)
        {
            connection.StartConnecting();
            return null;
        }
        return (await availability.TryAsync("get", t => inner.GetAsync(key, t), token).ConfigureAwait(false)).Value;
    }

    /// <inheritdoc />
    public byte[]? Get(string key) => GetAsync(key).GetAwaiter().GetResult();

    /// <inheritdoc />
    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        InBackground("set", t => inner.SetAsync(key, value, options, t));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => InBackground("set", t => inner.SetAsync(key, value, options, t));

    /// <inheritdoc />
    public Task RefreshAsync(string key, CancellationToken token = default)
    {
        InBackground("refresh", t => inner.RefreshAsync(key, t));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Refresh(string key) => InBackground("refresh", t => inner.RefreshAsync(key, t));

    /// <inheritdoc />
    public Task RemoveAsync(string key, CancellationToken token = default)
    {
        InBackground("remove", t => inner.RemoveAsync(key, t));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Remove(string key) => InBackground("remove", t => inner.RemoveAsync(key, t));

    /// <summary>Starts <paramref name="write"/> in the background when a slot is free; drops it (counted as <c>{operation}_dropped</c>) otherwise.</summary>
    private void InBackground(string operation, Func<CancellationToken, Task> write)
    {
        if (!writeSlots.Wait(0))
        {
            metrics.CacheError(operation + "_dropped");
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                // The first connection attempt ends within the connect timeout, answered or not.
                await connection.GetAsync().ConfigureAwait(false);
                await availability.TryAsync(operation, async t =>
                {
                    await write(t).ConfigureAwait(false);
                    return true;
                }, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                writeSlots.Release();
            }
        });
    }
}
