using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Logging;
using MLNet.MoE.Samples.ScoringService;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>The service's real Kestrel server, started in this process on a free loopback port (<c>--urls</c>), with a client for it and its captured logs.</summary>
public sealed class RunningService : IAsyncDisposable
{
    private bool stopped;

    private RunningService(WebApplication app, HttpClient client, FakeLoggerProvider logs)
    {
        App = app;
        Client = client;
        Logs = logs;
    }

    public WebApplication App { get; }

    public HttpClient Client { get; }

    /// <summary>Every log entry of the service (the levels the arguments let through: Warning, and Information for MLNet.MoE categories).</summary>
    public FakeLoggerProvider Logs { get; }

    public static async Task<RunningService> StartAsync(string modelPath, Action<ScoringServiceOptions>? configure = null, params string[] extraArgs)
    {
        var logs = new FakeLoggerProvider();
        string[] args = new[] { "--urls=http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:MLNet.MoE=Information" }.Concat(extraArgs).ToArray();
        var app = ScoringServiceHost.Build(args, options =>
        {
            options.ModelPath = modelPath;
            configure?.Invoke(options);
        }, services => services.AddLogging(logging => logging.AddProvider(logs)));
        await app.StartAsync();
        string address = app.Urls.Single();
        var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
        return new RunningService(app, client, logs);
    }

    public Task<HttpResponseMessage> ScoreAsync(IEnumerable<string> texts, CancellationToken cancellation = default) =>
        Client.PostAsJsonAsync("/v1/score", new { texts }, cancellation);

    /// <summary>A scrape of <c>GET /metrics</c> (Prometheus text).</summary>
    public async Task<PrometheusScrape> MetricsAsync() => PrometheusScrape.Parse(await Client.GetStringAsync("/metrics"));

    /// <summary>The readiness report.</summary>
    public async Task<(System.Net.HttpStatusCode Status, JsonElement Body)> ReadinessAsync()
    {
        using var response = await Client.GetAsync("/health/ready");
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    public async Task StopAsync()
    {
        stopped = true;
        await App.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!stopped) await App.StopAsync();
        await App.DisposeAsync();
        Logs.Dispose();
    }
}
