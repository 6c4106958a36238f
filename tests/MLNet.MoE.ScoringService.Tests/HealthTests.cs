using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>Liveness and readiness: the process answers; the model, the batcher and its queue are checked.</summary>
[Collection(ServiceCollection.Name)]
public class HealthTests
{
    private readonly TrainedModelFixture model;

    public HealthTests(TrainedModelFixture model) => this.model = model;

    [Fact]
    public async Task ReadinessFailsWhileTheQueueIsSaturatedAndLivenessDoesNot()
    {
        await using var service = await RunningService.StartAsync(model.ModelPath, o =>
        {
            o.QueueCapacity = 4;
            o.QueueSaturationFraction = 0.5;
            o.MaxBatchSize = 64;
            o.MaxBatchWaitMilliseconds = 1500;
            o.CacheEnabled = false;
        });
        var (status, ready) = await service.ReadinessAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Healthy", ready.GetProperty("status").GetString());
        var modelCheck = ready.GetProperty("checks").GetProperty("model");
        Assert.Equal("Healthy", modelCheck.GetProperty("status").GetString());
        Assert.Equal("language-model", modelCheck.GetProperty("data").GetProperty("kind").GetString());
        Assert.Equal(32, modelCheck.GetProperty("data").GetProperty("contextLength").GetInt32());
        Assert.Equal("Healthy", ready.GetProperty("checks").GetProperty("batcher").GetProperty("status").GetString());

        var waiting = service.ScoreAsync(model.Texts(2, offset: 300));
        await WaitForReadiness(service, HttpStatusCode.ServiceUnavailable);
        (status, ready) = await service.ReadinessAsync();
        Assert.Equal("Unhealthy", ready.GetProperty("status").GetString());
        Assert.Contains("saturated", ready.GetProperty("checks").GetProperty("batcher").GetProperty("description").GetString());
        using (var live = await service.Client.GetAsync("/health/live"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            Assert.Equal("Healthy", (await live.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        }
        using var answered = await waiting;
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        await WaitForReadiness(service, HttpStatusCode.OK);
    }

    private static async Task WaitForReadiness(RunningService service, HttpStatusCode expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await service.ReadinessAsync()).Status != expected)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Readiness never became {expected}.");
            await Task.Delay(20);
        }
    }
}
