using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Api;
using MLNet.MoE.Samples.ScoringService.Backends;
using MLNet.MoE.Samples.ScoringService.Batching;
using MLNet.MoE.Samples.ScoringService.Caching;
using MLNet.MoE.Samples.ScoringService.Diagnostics;

namespace MLNet.MoE.Samples.ScoringService;

/// <summary>Builds the scoring service: Kestrel on the configured (loopback by default) addresses, the model, the batcher, the cache and the endpoints.</summary>
public static class ScoringServiceHost
{
    /// <summary>
    /// Reads the <c>Scoring</c> section of the configuration (appsettings.json, environment, <paramref name="args"/>), lets
    /// <paramref name="configure"/> change it, loads the model and returns the application, not yet started.
    /// </summary>
    public static WebApplication Build(string[] args, Action<ScoringServiceOptions>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        // Quiet per-request framework logs by default (they cost throughput); any configuration source can override this.
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning" },
        });
        var options = new ScoringServiceOptions();
        builder.Configuration.GetSection(ScoringServiceOptions.SectionName).Bind(options);
        configure?.Invoke(options);
        options.Validate();
        builder.Services.AddSingleton(Options.Create(options));

        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBytes;
        });

        var backend = ScoringBackendLoader.Load(options.ModelPath, options.MaxTokensPerForwardPass);
        builder.Services.AddSingleton<IScoringBackend>(_ => backend);
        builder.Services.AddSingleton<ServiceMetrics>();
        builder.Services.AddSingleton<ScoreBatcher>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ScoreBatcher>());
        builder.Services.AddSingleton<ResultCache>();
        builder.Services.AddSingleton<ScoringEndpoints>();
        if (options.RedisConnectionString != null)
        {
            builder.Services.AddStackExchangeRedisCache(redis =>
            {
                redis.Configuration = options.RedisConnectionString;
                redis.InstanceName = options.RedisInstanceName;
            });
        }
        else
        {
            builder.Services.AddDistributedMemoryCache();
        }

        var app = builder.Build();
        // Every unhandled error becomes a bare 500 problem: no exception text or stack trace reaches the client.
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = ctx => Results.Problem(detail: "The service failed to handle the request.", statusCode: StatusCodes.Status500InternalServerError).ExecuteAsync(ctx),
        });
        ApiKeyCheck.Use(app, options.ApiKey);
        ScoringEndpoints.Map(app);
        return app;
    }
}
