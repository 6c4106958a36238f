namespace MLNet.MoE.Samples.ScoringService;

/// <summary>
/// Settings of the scoring service, bound from the <c>Scoring</c> configuration section (appsettings.json,
/// environment variables such as <c>Scoring__ModelPath</c>, or command-line arguments such as <c>--Scoring:ModelPath=model.zip</c>).
/// </summary>
public sealed class ScoringServiceOptions
{
    /// <summary>The configuration section the options are read from.</summary>
    public const string SectionName = "Scoring";

    /// <summary>The saved ML.NET model (<c>model.zip</c>) to serve. Required.</summary>
    public string ModelPath { get; set; } = "";

    /// <summary>Addresses to listen on, separated by semicolons. Loopback by default; use port 0 for any free port.</summary>
    public string Urls { get; set; } = "http://127.0.0.1:5080";

    /// <summary>Most texts run in one scoring batch; 1 turns micro-batching off (each text is its own forward pass).</summary>
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>Longest time (milliseconds) the first text of a batch waits for others to join it.</summary>
    public double MaxBatchWaitMilliseconds { get; set; } = 2;

    /// <summary>
    /// A waiting batch also starts once no new text has arrived for this long (milliseconds), before
    /// <see cref="MaxBatchWaitMilliseconds"/> runs out: a lone client does not wait for company that is not coming, while
    /// a burst of requests still fills one batch. 0 turns the rule off (batches wait for the full size or the longest wait).
    /// </summary>
    public double BatchArrivalGapMilliseconds { get; set; }

    /// <summary>Most texts waiting to be scored; a request that would exceed it is answered 503 with <c>Retry-After</c>.</summary>
    public int QueueCapacity { get; set; } = 1024;

    /// <summary>Seconds a client is told to wait (<c>Retry-After</c>) when the queue is full.</summary>
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>Most generations running at once; more are answered 503 with <c>Retry-After</c>.</summary>
    public int MaxConcurrentGenerations { get; set; } = 2;

    /// <summary>Largest request body in bytes (larger bodies get 413).</summary>
    public long MaxRequestBytes { get; set; } = 1 << 20;

    /// <summary>Most texts in one <c>/v1/score</c> request.</summary>
    public int MaxTextsPerRequest { get; set; } = 64;

    /// <summary>Largest <c>maxTokens</c> a <c>/v1/generate</c> request may ask for.</summary>
    public int MaxNewTokens { get; set; } = 256;

    /// <summary>When set, every endpoint but <c>/healthz</c> requires this value in the <c>X-Api-Key</c> header.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Answers deterministic requests from a cache (in memory, or Redis when <see cref="RedisConnectionString"/> is set).</summary>
    public bool CacheEnabled { get; set; } = true;

    /// <summary>A StackExchange.Redis connection string (for example <c>127.0.0.1:6379</c>); null keeps the cache in memory.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>Prefix of the service's Redis keys, so several services can share one Redis.</summary>
    public string RedisInstanceName { get; set; } = "mlnet-moe-scoring:";

    /// <summary>How long a cached result lives, in seconds.</summary>
    public int CacheEntryLifetimeSeconds { get; set; } = 3600;

    /// <summary>Upper bound on rows × padded length of one forward pass (memory: this × vocabulary × 4 bytes of logits).</summary>
    public int MaxTokensPerForwardPass { get; set; } = 8192;

    /// <summary>Checks every setting; throws naming the first bad one.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelPath)) throw new InvalidOperationException($"{SectionName}:{nameof(ModelPath)} is not set: give the model.zip to serve (for example --{SectionName}:{nameof(ModelPath)}=model.zip).");
        if (!File.Exists(ModelPath)) throw new FileNotFoundException($"{SectionName}:{nameof(ModelPath)} '{ModelPath}' does not exist.", ModelPath);
        Require(MaxBatchSize >= 1, nameof(MaxBatchSize), MaxBatchSize, "at least 1");
        Require(MaxBatchWaitMilliseconds >= 0, nameof(MaxBatchWaitMilliseconds), MaxBatchWaitMilliseconds, "0 or more");
        Require(BatchArrivalGapMilliseconds >= 0, nameof(BatchArrivalGapMilliseconds), BatchArrivalGapMilliseconds, "0 or more");
        Require(QueueCapacity >= 1, nameof(QueueCapacity), QueueCapacity, "at least 1");
        Require(RetryAfterSeconds >= 1, nameof(RetryAfterSeconds), RetryAfterSeconds, "at least 1");
        Require(MaxConcurrentGenerations >= 1, nameof(MaxConcurrentGenerations), MaxConcurrentGenerations, "at least 1");
        Require(MaxRequestBytes >= 64, nameof(MaxRequestBytes), MaxRequestBytes, "at least 64");
        Require(MaxTextsPerRequest >= 1, nameof(MaxTextsPerRequest), MaxTextsPerRequest, "at least 1");
        Require(MaxNewTokens >= 1, nameof(MaxNewTokens), MaxNewTokens, "at least 1");
        Require(CacheEntryLifetimeSeconds >= 1, nameof(CacheEntryLifetimeSeconds), CacheEntryLifetimeSeconds, "at least 1");
        Require(MaxTokensPerForwardPass >= 1, nameof(MaxTokensPerForwardPass), MaxTokensPerForwardPass, "at least 1");
        if (ApiKey is { Length: 0 }) ApiKey = null;
    }

    private static void Require(bool ok, string name, object value, string rule)
    {
        if (!ok) throw new InvalidOperationException($"{SectionName}:{name} is {value}; it must be {rule}.");
    }
}
