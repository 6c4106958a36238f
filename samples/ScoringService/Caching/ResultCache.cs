using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Backends;
using MLNet.MoE.Samples.ScoringService.Diagnostics;

namespace MLNet.MoE.Samples.ScoringService.Caching;

/// <summary>
/// Answers repeated deterministic requests from an <see cref="IDistributedCache"/>: the in-memory one by default, Redis
/// when a connection string is configured. Keys hold the model's fingerprint and a SHA-256 of the request, values the
/// JSON result. A cache that fails (Redis down) is logged, counted and treated as a miss: scoring never depends on it.
/// </summary>
public sealed class ResultCache
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly IDistributedCache? cache;
    private readonly ServiceMetrics metrics;
    private readonly ILogger<ResultCache> logger;
    private readonly string modelId;
    private readonly DistributedCacheEntryOptions entryOptions;

    /// <summary>Creates the cache over the configured store (none when caching is off).</summary>
    public ResultCache(IServiceProvider services, IScoringBackend backend, ServiceMetrics metrics, IOptions<ScoringServiceOptions> options, ILogger<ResultCache> logger)
    {
        cache = options.Value.CacheEnabled ? services.GetRequiredService<IDistributedCache>() : null;
        this.metrics = metrics;
        this.logger = logger;
        modelId = backend.ModelId;
        entryOptions = new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(options.Value.CacheEntryLifetimeSeconds) };
        Store = cache == null ? "off" : options.Value.RedisConnectionString != null ? "redis" : "memory";
    }

    /// <summary><c>off</c>, <c>memory</c> or <c>redis</c>.</summary>
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
        int errors = 0;
        var reads = keys.Select(async (key, i) =>
        {
            try
            {
                byte[]? bytes = await cache.GetAsync(key, cancellation).ConfigureAwait(false);
                if (bytes != null) found[i] = JsonSerializer.Deserialize<T>(bytes, Json);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Interlocked.Increment(ref errors);
                logger.LogWarning(e, "Reading the result cache failed; scoring instead.");
            }
        });
        await Task.WhenAll(reads).ConfigureAwait(false);
        int hits = found.Count(f => f != null);
        metrics.Cache(hits, keys.Count - hits, errors);
        return found;
    }

    /// <summary>Stores values (failures are logged and ignored).</summary>
    public async Task SetManyAsync<T>(IReadOnlyList<(string Key, T Value)> entries, CancellationToken cancellation)
    {
        if (cache == null || entries.Count == 0) return;
        try
        {
            await Task.WhenAll(entries.Select(e => cache.SetAsync(e.Key, JsonSerializer.SerializeToUtf8Bytes(e.Value, Json), entryOptions, cancellation))).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            metrics.Cache(0, 0, 1);
            logger.LogWarning(e, "Writing the result cache failed.");
        }
    }

    private string Key(string kind, string payload) =>
        $"{kind}:{modelId}:{Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(payload))).ToLowerInvariant()}";
}
