using System.Net;
using MLNet.MoE.Samples.ScoringService.Backends;
using MLNet.MoE.Samples.ScoringService.Caching;
using Microsoft.Extensions.Options;

namespace MLNet.MoE.Samples.ScoringService.Hosting;

/// <summary>
/// Logs, once the service listens, one line with the model, the backend, the cache, the limits and the addresses, and a
/// warning when an address beyond loopback is bound without an API key.
/// </summary>
public static class StartupReport
{
    /// <summary>The log category of the report.</summary>
    public const string Category = "MLNet.MoE.Samples.ScoringService";

    /// <summary>Writes the report for the started <paramref name="app"/>.</summary>
    public static void Log(WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(Category);
        var options = app.Services.GetRequiredService<IOptions<ScoringServiceOptions>>().Value;
        var backend = app.Services.GetRequiredService<IScoringBackend>();
        var cache = app.Services.GetRequiredService<ResultCache>();
        string urls = string.Join(", ", app.Urls);
        logger.LogInformation(
            "Serving {ModelPath} ({Backend}, model {ModelId}, context {ContextLength} tokens) on {Urls}; cache {Cache}{Redis}; " +
            "limits: batches of {MaxBatchSize} texts waiting up to {MaxBatchWaitMilliseconds} ms, queue {QueueCapacity} texts, {MaxTextsPerRequest} texts and " +
            "{MaxTextCharacters} characters a text, {MaxRequestBytes} bytes a body, {MaxNewTokens} new tokens, {MaxConcurrentGenerations} generations at once; API key {ApiKey}.",
            options.ModelPath, backend.Kind, backend.ModelId, backend.ContextLength, urls, cache.Store,
            options.UsesRedis ? $" (Redis {app.Services.GetRequiredService<RedisConnection>().Endpoint}, timeout {options.RedisTimeoutMilliseconds} ms)" : "",
            options.MaxBatchSize, options.MaxBatchWaitMilliseconds, options.QueueCapacity, options.MaxTextsPerRequest, options.MaxTextCharacters,
            options.MaxRequestBytes, options.MaxNewTokens, options.MaxConcurrentGenerations, options.EffectiveApiKey == null ? "off" : "required");
        var exposed = app.Urls.Where(u => !IsLoopback(u)).ToList();
        if (exposed.Count > 0 && options.EffectiveApiKey == null)
        {
            logger.LogWarning("The service listens beyond loopback ({Urls}) and no API key is set: anyone who can reach it can use it. Set {Setting} (or bind 127.0.0.1).",
                string.Join(", ", exposed), $"{ScoringServiceOptions.SectionName}:{nameof(ScoringServiceOptions.ApiKey)}");
        }
    }

    /// <summary>True when <paramref name="url"/> listens on a loopback address only.</summary>
    public static bool IsLoopback(string url)
    {
        string host;
        try
        {
            host = BindingAddress.Parse(url).Host;
        }
        catch (FormatException)
        {
            return false;
        }
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);
    }
}
