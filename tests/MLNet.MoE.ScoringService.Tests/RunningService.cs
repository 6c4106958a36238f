using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using MLNet.MoE.Samples.ScoringService;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>The service's real Kestrel server, started in this process on a free loopback port, with a client for it.</summary>
public sealed class RunningService : IAsyncDisposable
{
    private bool stopped;

    private RunningService(WebApplication app, HttpClient client)
    {
        App = app;
        Client = client;
    }

    public WebApplication App { get; }

    public HttpClient Client { get; }

    public static async Task<RunningService> StartAsync(string modelPath, Action<ScoringServiceOptions>? configure = null)
    {
        var app = ScoringServiceHost.Build(new[] { "--Logging:LogLevel:Default=Warning" }, options =>
        {
            options.ModelPath = modelPath;
            options.Urls = "http://127.0.0.1:0";
            configure?.Invoke(options);
        });
        await app.StartAsync();
        string address = app.Urls.Single();
        Assert.StartsWith("http://127.0.0.1:", address);
        var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
        return new RunningService(app, client);
    }

    public Task<HttpResponseMessage> ScoreAsync(IEnumerable<string> texts, CancellationToken cancellation = default) =>
        Client.PostAsJsonAsync("/v1/score", new { texts }, cancellation);

    public async Task<JsonElement> MetricsAsync() => await Client.GetFromJsonAsync<JsonElement>("/metrics");

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
    }
}
