using System.Net;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>The built service as a process: start-up errors are logged naming the setting with exit code 1; ASPNETCORE_URLS is honoured.</summary>
[Collection(ServiceCollection.Name)]
public class StartupTests
{
    private readonly TrainedModelFixture model;

    public StartupTests(TrainedModelFixture model) => this.model = model;

    [Fact]
    public async Task BadSettingsEndTheStartWithALoggedErrorNamingTheSettingAndExitCode1()
    {
        string notAModel = Path.Combine(Path.GetTempPath(), $"not-a-model-{Guid.NewGuid():N}.zip");
        await File.WriteAllTextAsync(notAModel, "this is not a zip");
        try
        {
            var cases = new (string[] Args, string Mentions)[]
            {
                (Array.Empty<string>(), "Scoring:ModelPath is not set"),
                (new[] { "--Scoring:ModelPath=/nonexistent/model.zip" }, "Scoring:ModelPath '/nonexistent/model.zip' does not exist"),
                (new[] { $"--Scoring:ModelPath={model.ModelPath}", "--Scoring:MaxBatchSize=many" }, "Scoring:MaxBatchSize"),
                (new[] { $"--Scoring:ModelPath={model.ModelPath}", "--Scoring:QueueCapacity=0" }, "Scoring:QueueCapacity must be between 1 and"),
                (new[] { $"--Scoring:ModelPath={notAModel}" }, $"Scoring:ModelPath '{notAModel}' could not be loaded as a saved ML.NET model"),
            };
            foreach (var c in cases)
            {
                using var service = ServiceProcess.Start(c.Args.Append("--urls=http://127.0.0.1:0"));
                int exitCode = await service.WaitForExitAsync(TimeSpan.FromMinutes(2));
                string output = service.Output;
                Assert.True(exitCode == 1, $"{string.Join(' ', c.Args)}: exit code {exitCode}\n{output}");
                Assert.Contains("The scoring service could not start", output);
                Assert.Contains(c.Mentions, output);
                Assert.DoesNotContain("   at ", output);
            }
        }
        finally
        {
            File.Delete(notAModel);
        }
    }

    [Fact]
    public async Task AspNetCoreUrlsChoosesTheAddressAndTheStartIsLoggedInOneLine()
    {
        int port = RedisServer.FreePort();
        using var service = ServiceProcess.Start(new[] { $"--Scoring:ModelPath={model.ModelPath}" },
            new Dictionary<string, string> { ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}" });
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            Assert.False(service.HasExited, service.Output);
            try
            {
                using var live = await client.GetAsync("/health/live");
                Assert.Equal(HttpStatusCode.OK, live.StatusCode);
                break;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
        await WaitFor(() => service.Output.Contains("Serving "));
        string line = service.Output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("Serving ", StringComparison.Ordinal));
        Assert.Contains(model.ModelPath, line);
        Assert.Contains($"http://127.0.0.1:{port}", line);
        Assert.Contains("language-model", line);
        Assert.Contains("cache memory", line);
        Assert.Contains("batches of 32 texts", line);
        Assert.DoesNotContain("beyond loopback", service.Output);
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The expected output never came.");
            await Task.Delay(50);
        }
    }
}
