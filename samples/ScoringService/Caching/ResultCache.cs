using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Backends;
using MLNet.MoE.Samples.ScoringService.Diagnostics;

namespace MLNet.MoE.Samples.ScoringService.Caching;

/// <summary>
/// Answers repeated deterministic requests from a <see cref="HybridCache"/>: an in-process first level, and Redis as the
/// second level when a connection string is configured (through <see cref="ResilientDistributedCache"/>, so a Redis outage
/// only costs hits). Keys hold the model's fingerprint and a SHA-256 of the request. Scored texts are looked up together
/// and the misses scored in one batch; a generation runs under the cache's stampede protection, so concurrent identical
/// requests share one generation.
/// </summary>
public sealed class ResultCache
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // A lookup: nothing is written when the key is missing (the caller computes the value and calls SetManyAsync).
    private static readonly HybridCacheEntryOptions LookupOnly = new() { Flags = HybridCacheEntryFlags.DisableDistributedCacheWrite };
    private readonly HybridCache? cache;
    private readonly ServiceMetrics metrics;
    private readonly string modelId;
    private readonly HybridCacheEntryOptions entryOptions;

    /// <summary>Creates the cache over the configured store (none when caching is off).</summary>
    public ResultCache(IServiceProvider services, IScoringBackend backend, ServiceMetrics metrics, IOptions<ScoringServiceOptions> options)
    {
        cache = options.Value.CacheEnabled ? services.GetRequiredService<HybridCache>() : null;
        this.metrics = metrics;
        modelId = backend.ModelId;
        var lifetime = TimeSpan.FromSeconds(options.Value.CacheEntryLifetimeSeconds);
        entryOptions = new HybridCacheEntryOptions { Expiration = lifetime, LocalCacheExpiration = lifetime };
        Store = cache == null ? "off" : options.Value.UsesRedis ? "memory+redis" : "memory";
    }

    /// <summary><c>off</c>, <c>memory</c> or <c>memory+redis</c>.</summary>
    public string Store { get; }

    /// <summary>The key of one scored text.</summary>
    public string ScoreKey(string text) => Key("score", text);

    /// <summary>The key of a deterministic generation (<paramref name="seed"/> is ignored by greedy decoding: pass 0 then).</summary>
    public string GenerateKey(GenerateRequest request, int seed) =>
        Key("generate", JsonSerializer.Serialize(new { request.Prompt, request.MaxTokens, request.Temperature, request.TopK, request.TopP, seed }, Json));

    /// <summary>The cached value of each key (null where missing); counts hits and misses.</summary>
    public async Task<T?[]> GetManyAsync<T>(IReadOnlyList<string> keys, CancellationToken cancellation) where T : class
    {
        var found = new T?[keys.Count];
        if (cache == null) return found;
        await Task.WhenAll(keys.Select(async (key, i) =>
            found[i] = await cache.GetOrCreateAsync<T?>(key, static _ => ValueTask.FromResult<T?>(null), LookupOnly, cancellationToken: cancellation).ConfigureAwait(false))).ConfigureAwait(false);
        int hits = found.Count(f => f != null);
        metrics.Cache(hits, keys.Count - hits);
        return found;
    }

    /// <summary>Stores values in memory and (in the background) in Redis.</summary>
    public async Task SetManyAsync<T>(IReadOnlyList<(string Key, T Value)> entries, CancellationToken cancellation)
    {
        if (cache == null) return;
        foreach (var (key, value) in entries) await cache.SetAsync(key, value, entryOptions, cancellationToken: cancellation).ConfigureAwait(false);
    }

    /// <summary>
    /// The cached value of <paramref name="key"/>, or else the value <paramref name="compute"/> returns (stored for next
    /// time); concurrent calls for one key share one computation. <c>Cached</c> is false for the caller whose call computed it.
    /// </summary>
    public async Task<(T Value, bool Cached)> GetOrComputeAsync<T>(string key, Func<CancellationToken, Task<T>> compute, CancellationToken cancellation)
    {
        if (cache == null) return (await compute(cancellation).ConfigureAwait(false), false);
        bool computed = false;
        T value = await cache.GetOrCreateAsync(key, async token =>
        {
            computed = true;
            T result = await compute(token).ConfigureAwait(false);
            // A computation cut short by cancellation is not a result to keep.
            token.ThrowIfCancellationRequested();
            return result;
        }, entryOptions, cancellationToken: cancellation).ConfigureAwait(false);
        metrics.Cache(computed ? 0 : 1, computed ? 1 : 0);
        return (value, !computed);
    }

    private string Key(string kind, string payload) =>
        $"{kind}:{modelId}:{Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(payload))).ToLowerInvariant()}";
}
