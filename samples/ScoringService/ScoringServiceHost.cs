using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Api;
using MLNet.MoE.Samples.ScoringService.Backends;
using MLNet.MoE.Samples.ScoringService.Batching;
using MLNet.MoE.Samples.ScoringService.Caching;
using MLNet.MoE.Samples.ScoringService.Diagnostics;
using MLNet.MoE.Samples.ScoringService.Health;
using MLNet.MoE.Samples.ScoringService.Hosting;
using OpenTelemetry.Metrics;

namespace MLNet.MoE.Samples.ScoringService;

/// <summary>
/// Builds the scoring service: Kestrel on the configured addresses (loopback by default), the options (validated when
/// the service starts), the model (loaded when the service starts), the batcher, the two-level cache, health checks,
/// the OpenTelemetry Prometheus endpoint, the OpenAPI document and the endpoints.
/// </summary>
public static class ScoringServiceHost
{
    /// <summary>The tag of the health checks that make up readiness.</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// Reads the configuration (appsettings.json, environment, <paramref name="args"/>) and returns the application, not
    /// yet started; <paramref name="configure"/> changes the bound options (after binding, before validation) and
    /// <paramref name="services"/> adds to the service collection (a logger provider, for example). Bad settings and a
    /// model that cannot be loaded are reported when the application starts, naming the setting.
    /// </summary>
    public static WebApplication Build(string[] args, Action<ScoringServiceOptions>? configure = null, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        // Defaults any configuration source can override: quiet per-request framework logs (they cost throughput); the
        // start-up failure is logged by the service in one line (not by the host with a stack trace); a degraded Redis is
        // logged by the cache once per outage, not by every readiness probe.
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                ["Logging:LogLevel:Microsoft.Extensions.Hosting.Internal.Host"] = "Critical",
                ["Logging:LogLevel:Microsoft.Extensions.Diagnostics.HealthChecks"] = "Error",
            },
        });
        var optionsBuilder = builder.Services.AddOptions<ScoringServiceOptions>()
            .Bind(builder.Configuration.GetSection(ScoringServiceOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (configure != null) builder.Services.PostConfigure(configure);

        // The host's own address settings (--urls, ASPNETCORE_URLS, ASPNETCORE_HTTP_PORTS, Kestrel:Endpoints) win; loopback otherwise.
        var config = builder.Configuration;
        if (string.IsNullOrEmpty(config["urls"]) && string.IsNullOrEmpty(config["http_ports"]) && string.IsNullOrEmpty(config["https_ports"]) && !config.GetSection("Kestrel:Endpoints").Exists())
            builder.WebHost.UseUrls(ScoringServiceOptions.DefaultUrl);
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<ScoringServiceOptions>>((kestrel, options) =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.Value.MaxRequestBytes;
        });

        builder.Services.AddSingleton<IScoringBackend>(services => ModelLoading.Load(services.GetRequiredService<IOptions<ScoringServiceOptions>>().Value));
        builder.Services.AddSingleton<ServiceMetrics>();
        builder.Services.AddSingleton<ScoreBatcher>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ScoreBatcher>());
        builder.Services.AddSingleton<ResultCache>();
        builder.Services.AddSingleton<ScoringEndpoints>();
        bool redis = UsesRedis(builder.Configuration, configure);
        AddCache(builder, redis);

        var health = builder.Services.AddHealthChecks()
            .AddCheck<ModelHealthCheck>("model", tags: new[] { ReadyTag })
            .AddCheck<BatcherHealthCheck>("batcher", tags: new[] { ReadyTag });
        if (redis) health.AddCheck<RedisHealthCheck>("redis", HealthStatus.Degraded, new[] { ReadyTag });

        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(ServiceMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
            .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0));
        builder.Services.AddOpenApi();
        builder.Services.AddProblemDetails(problems => problems.CustomizeProblemDetails = ProblemDetailTexts.Customize);

        services?.Invoke(builder.Services);
        var app = builder.Build();
        // Every unhandled error becomes a bare 500 problem: no exception text or stack trace reaches the client.
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = ctx => Results.Problem(detail: "The service failed to handle the request.", statusCode: StatusCodes.Status500InternalServerError).ExecuteAsync(ctx),
        });
        // Bodiless error answers (404, 405, ...) become problem documents too.
        app.UseStatusCodePages();
        ApiKeyCheck.Use(app);
        var liveness = new HealthCheckOptions { Predicate = _ => false, ResponseWriter = HealthReportWriter.WriteAsync };
        var readiness = new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag), ResponseWriter = HealthReportWriter.WriteAsync };
        app.MapHealthChecks("/health/live", liveness);
        app.MapHealthChecks("/health/ready", readiness);
        app.MapHealthChecks("/healthz", readiness);
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapOpenApi();
        ScoringEndpoints.Map(app);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            // Connect to Redis now rather than on the first request (which is answered without Redis while connecting).
            app.Services.GetService<RedisConnection>()?.StartConnecting();
            StartupReport.Log(app);
        });
        return app;
    }

    /// <summary>Whether the settings ask for Redis (read ahead of validation, which reports bad values when the service starts).</summary>
    private static bool UsesRedis(IConfiguration configuration, Action<ScoringServiceOptions>? configure)
    {
        var preview = new ScoringServiceOptions();
        try
        {
            configuration.GetSection(ScoringServiceOptions.SectionName).Bind(preview);
        }
        catch (InvalidOperationException)
        {
            // A value that does not convert: the options' own binding reports it, naming the setting, when the service starts.
        }
        configure?.Invoke(preview);
        return preview.UsesRedis;
    }

    /// <summary>HybridCache over memory; with a Redis connection string, Redis (through the resilient wrapper) as its second level.</summary>
    private static void AddCache(WebApplicationBuilder builder, bool redis)
    {
        builder.Services.AddHybridCache();
        if (!redis) return;
        builder.Services.AddSingleton<RedisConnection>();
        builder.Services.AddSingleton<RedisAvailability>();
        builder.Services.AddSingleton<IDistributedCache>(services =>
        {
            var options = services.GetRequiredService<IOptions<ScoringServiceOptions>>().Value;
            var connection = services.GetRequiredService<RedisConnection>();
            var redis = new RedisCache(Options.Create(new RedisCacheOptions
            {
                InstanceName = options.RedisInstanceName,
                ConnectionMultiplexerFactory = connection.GetAsync,
            }));
            return new ResilientDistributedCache(redis, connection, services.GetRequiredService<RedisAvailability>(), services.GetRequiredService<ServiceMetrics>(), services.GetRequiredService<IOptions<ScoringServiceOptions>>());
        });
    }
}
