using System.ComponentModel.DataAnnotations;

namespace MLNet.MoE.Samples.ScoringService;

/// <summary>
/// Settings of the scoring service, bound from the <c>Scoring</c> configuration section (appsettings.json,
/// environment variables such as <c>Scoring__ModelPath</c>, or command-line arguments such as <c>--Scoring:ModelPath=model.zip</c>)
/// and checked with data annotations when the service starts: a bad value stops the start with a message naming the setting.
/// The listen addresses are the host's own setting (<c>--urls</c>, <c>ASPNETCORE_URLS</c>, <c>Kestrel:Endpoints</c>).
/// </summary>
public sealed class ScoringServiceOptions : IValidatableObject
{
    /// <summary>The configuration section the options are read from.</summary>
    public const string SectionName = "Scoring";

    /// <summary>The address the service listens on when neither <c>--urls</c> nor <c>ASPNETCORE_URLS</c> nor Kestrel endpoints are configured.</summary>
    public const string DefaultUrl = "http://127.0.0.1:5080";

    /// <summary>The saved ML.NET model (<c>model.zip</c>) to serve. Required.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "Scoring:ModelPath is not set: give the model.zip to serve (for example --Scoring:ModelPath=model.zip).")]
    public string ModelPath { get; set; } = "";

    /// <summary>Most texts run in one scoring batch; 1 turns micro-batching off (each text is its own forward pass).</summary>
    [Range(1, 4096)]
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>Longest time (milliseconds) the first text of a batch waits for others to join it.</summary>
    [Range(0, 3_600_000)]
    public double MaxBatchWaitMilliseconds { get; set; } = 2;

    /// <summary>
    /// A waiting batch also starts once no new text has arrived for this long (milliseconds), before
    /// <see cref="MaxBatchWaitMilliseconds"/> runs out: a lone client does not wait for company that is not coming, while
    /// a burst of requests still fills one batch. 0 turns the rule off (batches wait for the full size or the longest wait).
    /// </summary>
    [Range(0, 3_600_000)]
    public double BatchArrivalGapMilliseconds { get; set; }

    /// <summary>Most texts waiting to be scored; a request that would exceed it is answered 503 with <c>Retry-After</c>.</summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 1024;

    /// <summary>Share of <see cref="QueueCapacity"/> above which readiness reports the service as saturated (unhealthy).</summary>
    [Range(0.01, 1.0)]
    public double QueueSaturationFraction { get; set; } = 0.9;

    /// <summary>Seconds a client is told to wait (<c>Retry-After</c>) when the queue is full.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>Most generations running at once; more are answered 503 with <c>Retry-After</c>.</summary>
    [Range(1, 1024)]
    public int MaxConcurrentGenerations { get; set; } = 2;

    /// <summary>Largest request body in bytes (larger bodies get 413).</summary>
    [Range(64, 1L << 30)]
    public long MaxRequestBytes { get; set; } = 1 << 20;

    /// <summary>Most texts in one <c>/v1/score</c> request.</summary>
    [Range(1, 100_000)]
    public int MaxTextsPerRequest { get; set; } = 64;

    /// <summary>Most characters of one text or prompt; longer ones are refused (413) before they are tokenized.</summary>
    [Range(1, 100_000_000)]
    public int MaxTextCharacters { get; set; } = 16_384;

    /// <summary>Largest <c>maxTokens</c> a <c>/v1/generate</c> request may ask for.</summary>
    [Range(1, 1_000_000)]
    public int MaxNewTokens { get; set; } = 256;

    /// <summary>Largest <c>temperature</c> a <c>/v1/generate</c> request may ask for.</summary>
    [Range(0.0, 1000.0)]
    public double MaxTemperature { get; set; } = 10;

    /// <summary>Largest <c>topK</c> a <c>/v1/generate</c> request may ask for.</summary>
    [Range(0, 10_000_000)]
    public int MaxTopK { get; set; } = 1000;

    /// <summary>When set, every endpoint but the health checks requires this value in the <c>X-Api-Key</c> header.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Answers deterministic requests from a cache (in memory, plus Redis when <see cref="RedisConnectionString"/> is set).</summary>
    public bool CacheEnabled { get; set; } = true;

    /// <summary>A StackExchange.Redis connection string (for example <c>127.0.0.1:6379</c>); empty keeps the cache in memory only.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>Prefix of the service's Redis keys, so several services can share one Redis.</summary>
    public string RedisInstanceName { get; set; } = "mlnet-moe-scoring:";

    /// <summary>Longest wait (milliseconds) for one Redis operation or connection attempt; past it the cache counts as missed.</summary>
    [Range(10, 60_000)]
    public int RedisTimeoutMilliseconds { get; set; } = 250;

    /// <summary>Redis failures (at least half of the calls within 10 seconds) after which Redis is skipped for <see cref="RedisBreakSeconds"/>.</summary>
    [Range(2, 1000)]
    public int RedisFailuresBeforeBreak { get; set; } = 3;

    /// <summary>How long (seconds) Redis is skipped after it failed; then one call tries it again.</summary>
    [Range(0.5, 3600)]
    public double RedisBreakSeconds { get; set; } = 5;

    /// <summary>Most Redis writes in flight at once; writes run in the background and are dropped above this.</summary>
    [Range(1, 100_000)]
    public int RedisMaxPendingWrites { get; set; } = 256;

    /// <summary>How long a cached result lives, in seconds.</summary>
    [Range(1, 31_536_000)]
    public int CacheEntryLifetimeSeconds { get; set; } = 3600;

    /// <summary>Upper bound on rows × padded length of one forward pass (memory: this × vocabulary × 4 bytes of logits).</summary>
    [Range(1, int.MaxValue)]
    public int MaxTokensPerForwardPass { get; set; } = 8192;

    /// <summary>True when a Redis connection string is set.</summary>
    public bool UsesRedis => CacheEnabled && !string.IsNullOrWhiteSpace(RedisConnectionString);

    /// <summary>The API key, or null when none (an empty value counts as none).</summary>
    public string? EffectiveApiKey => string.IsNullOrEmpty(ApiKey) ? null : ApiKey;

    /// <summary>Checks what the annotations cannot: that the model file exists.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrWhiteSpace(ModelPath) && !File.Exists(ModelPath))
            yield return new ValidationResult($"{SectionName}:{nameof(ModelPath)} '{ModelPath}' does not exist.", new[] { nameof(ModelPath) });
    }
}
