using System.Diagnostics;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Backends;
using MLNet.MoE.Samples.ScoringService.Batching;
using MLNet.MoE.Samples.ScoringService.Caching;
using MLNet.MoE.Samples.ScoringService.Diagnostics;

namespace MLNet.MoE.Samples.ScoringService.Api;

/// <summary>
/// The HTTP API: <c>POST /v1/score</c>, <c>POST /v1/generate</c> (JSON or server-sent events), <c>GET /healthz</c> and
/// <c>GET /metrics</c>. Bad requests get 400 (415 for a body that is not JSON, 413 for one over the size limit) with a
/// message; a full queue or busy generation slots get 503 with <c>Retry-After</c>; errors never carry stack traces.
/// </summary>
public sealed class ScoringEndpoints
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly IScoringBackend backend;
    private readonly ScoreBatcher batcher;
    private readonly ResultCache cache;
    private readonly ServiceMetrics metrics;
    private readonly ScoringServiceOptions options;
    private readonly SemaphoreSlim generationSlots;

    /// <summary>Creates the endpoints over the service's parts.</summary>
    public ScoringEndpoints(IScoringBackend backend, ScoreBatcher batcher, ResultCache cache, ServiceMetrics metrics, IOptions<ScoringServiceOptions> options)
    {
        this.backend = backend;
        this.batcher = batcher;
        this.cache = cache;
        this.metrics = metrics;
        this.options = options.Value;
        generationSlots = new SemaphoreSlim(this.options.MaxConcurrentGenerations);
    }

    /// <summary>Maps the endpoints on <paramref name="app"/>.</summary>
    public static void Map(WebApplication app)
    {
        app.MapPost("/v1/score", (HttpContext ctx, ScoringEndpoints api) => api.Run(ctx, "score", () => api.ScoreAsync(ctx)));
        app.MapPost("/v1/generate", (HttpContext ctx, ScoringEndpoints api) => api.Run(ctx, "generate", () => api.GenerateAsync(ctx)));
        app.MapGet("/healthz", (ScoringEndpoints api) => api.Health());
        app.MapGet("/metrics", (ScoringEndpoints api) => Results.Json(api.metrics.Snapshot(api.batcher.QueueLength), Json));
    }

    private IResult Health() => Results.Json(new
    {
        status = "ok",
        model = backend.Kind,
        modelId = backend.ModelId,
        contextLength = backend.ContextLength,
        canGenerate = backend.CanGenerate,
        maxBatchSize = options.MaxBatchSize,
        maxBatchWaitMilliseconds = options.MaxBatchWaitMilliseconds,
        cache = cache.Store,
    }, Json);

    private async Task<IResult> ScoreAsync(HttpContext ctx)
    {
        var request = await ReadBodyAsync<ScoreRequest>(ctx).ConfigureAwait(false);
        if (request.Texts is not { Count: > 0 } texts) throw new RequestRejectedException("texts must hold at least one text.");
        if (texts.Count > options.MaxTextsPerRequest) throw new RequestRejectedException($"texts holds {texts.Count} texts; at most {options.MaxTextsPerRequest} are allowed per request.");
        var prepared = new PreparedText[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            string text = texts[i] ?? throw new RequestRejectedException($"texts[{i}] is null.");
            prepared[i] = backend.Prepare(text, $"texts[{i}]");
        }
        var cancellation = ctx.RequestAborted;
        var keys = texts.Select(t => cache.ScoreKey(t!)).ToList();
        var found = await cache.GetManyAsync<ScoreResult>(keys, cancellation).ConfigureAwait(false);
        var missing = Enumerable.Range(0, texts.Count).Where(i => found[i] == null).ToList();
        var results = new ScoredText[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            if (found[i] is { } hit) results[i] = ScoredText.From(hit, cached: true);
        }
        if (missing.Count > 0)
        {
            var tasks = batcher.Enqueue(missing.Select(i => prepared[i]).ToList(), cancellation);
            var scored = await Task.WhenAll(tasks).ConfigureAwait(false);
            for (int m = 0; m < missing.Count; m++) results[missing[m]] = ScoredText.From(scored[m], cached: false);
            await cache.SetManyAsync(missing.Select((i, m) => (keys[i], scored[m])).ToList(), cancellation).ConfigureAwait(false);
        }
        return Results.Json(new ScoreResponse(backend.Kind, results), Json);
    }

    private async Task<IResult> GenerateAsync(HttpContext ctx)
    {
        var request = await ReadBodyAsync<GenerateRequest>(ctx).ConfigureAwait(false);
        if (!backend.CanGenerate) throw new RequestRejectedException($"The served model ({backend.Kind}) does not generate text.");
        if (request.MaxTokens < 1 || request.MaxTokens > options.MaxNewTokens)
            throw new RequestRejectedException($"maxTokens is {request.MaxTokens}; it must be between 1 and {options.MaxNewTokens}.");
        var prompt = backend.PreparePrompt(request);
        var cancellation = ctx.RequestAborted;
        string? key = request.IsDeterministic && !request.Stream ? cache.GenerateKey(request, request.Temperature == 0 ? 0 : prompt.Seed) : null;
        if (key != null && (await cache.GetManyAsync<GenerateResult>(new[] { key }, cancellation).ConfigureAwait(false))[0] is { } hit)
            return Results.Json(new GenerateResponse(hit.Text, hit.TokenCount, hit.FinishReason, Cached: true), Json);
        if (!generationSlots.Wait(0))
        {
            metrics.GenerationsBusy();
            throw new ServiceBusyException($"All {options.MaxConcurrentGenerations} generation slots are busy.");
        }
        try
        {
            if (request.Stream)
            {
                await StreamAsync(ctx, prompt, cancellation).ConfigureAwait(false);
                return Results.Empty;
            }
            var clock = Stopwatch.StartNew();
            var result = await Task.Run(() => backend.Generate(prompt, null, cancellation), CancellationToken.None).ConfigureAwait(false);
            metrics.Generation(result.TokenCount, clock.Elapsed);
            cancellation.ThrowIfCancellationRequested();
            if (key != null) await cache.SetManyAsync(new[] { (key, result) }, cancellation).ConfigureAwait(false);
            return Results.Json(new GenerateResponse(result.Text, result.TokenCount, result.FinishReason, Cached: false), Json);
        }
        finally
        {
            generationSlots.Release();
        }
    }

    /// <summary>Server-sent events: one <c>message</c> event per new piece of text (<c>{"text": …}</c>), then a <c>done</c> event with the whole answer.</summary>
    private async Task StreamAsync(HttpContext ctx, PreparedPrompt prompt, CancellationToken cancellation)
    {
        var pieces = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var clock = Stopwatch.StartNew();
        var generation = Task.Run(() =>
        {
            try
            {
                var result = backend.Generate(prompt, piece => pieces.Writer.TryWrite(piece), cancellation);
                pieces.Writer.TryComplete();
                return result;
            }
            catch (Exception e)
            {
                pieces.Writer.TryComplete(e);
                throw;
            }
        }, CancellationToken.None);
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        try
        {
            await SseFormatter.WriteAsync(Events(pieces.Reader, generation, clock), ctx.Response.Body, cancellation).ConfigureAwait(false);
        }
        finally
        {
            // The generation stops at its next token once the client is gone; wait so the slot is not freed early.
            try
            {
                await generation.ConfigureAwait(false);
            }
            catch (Exception) when (cancellation.IsCancellationRequested)
            {
            }
        }
    }

    private async IAsyncEnumerable<SseItem<string>> Events(ChannelReader<string> pieces, Task<GenerateResult> generation, Stopwatch clock, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        await foreach (string piece in pieces.ReadAllAsync(cancellation).ConfigureAwait(false))
        {
            yield return new SseItem<string>(JsonSerializer.Serialize(new { text = piece }, Json), "message");
        }
        var result = await generation.ConfigureAwait(false);
        metrics.Generation(result.TokenCount, clock.Elapsed);
        yield return new SseItem<string>(JsonSerializer.Serialize(new GenerateResponse(result.Text, result.TokenCount, result.FinishReason, Cached: false), Json), "done");
    }

    /// <summary>Runs a handler, turning the service's exceptions into status codes and recording the response.</summary>
    private async Task<IResult> Run(HttpContext ctx, string endpoint, Func<Task<IResult>> handler)
    {
        long started = Stopwatch.GetTimestamp();
        IResult result;
        int status;
        try
        {
            result = await handler().ConfigureAwait(false);
            status = ctx.Response.HasStarted ? ctx.Response.StatusCode : StatusCodes.Status200OK;
        }
        catch (RequestRejectedException e)
        {
            (result, status) = (Problem(e.Message, StatusCodes.Status400BadRequest), StatusCodes.Status400BadRequest);
        }
        catch (UnsupportedContentTypeException e)
        {
            (result, status) = (Problem(e.Message, StatusCodes.Status415UnsupportedMediaType), StatusCodes.Status415UnsupportedMediaType);
        }
        catch (BadHttpRequestException e)
        {
            string detail = e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"The request body is larger than {options.MaxRequestBytes} bytes."
                : "The request could not be read.";
            (result, status) = (Problem(detail, e.StatusCode), e.StatusCode);
        }
        catch (ServiceBusyException e)
        {
            if (e.Message.StartsWith("The scoring queue", StringComparison.Ordinal)) metrics.QueueFull();
            ctx.Response.Headers.RetryAfter = options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            (result, status) = (Problem(e.Message, StatusCodes.Status503ServiceUnavailable), StatusCodes.Status503ServiceUnavailable);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its queued work was removed. 499 is the usual log code for this; nobody reads the answer.
            (result, status) = (Results.StatusCode(499), 499);
        }
        metrics.Response(endpoint, status, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    private static IResult Problem(string detail, int status) => Results.Problem(detail: detail, statusCode: status);

    private static async Task<T> ReadBodyAsync<T>(HttpContext ctx) where T : class
    {
        if (!ctx.Request.HasJsonContentType()) throw new UnsupportedContentTypeException("The request body must be JSON (Content-Type: application/json).");
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(ctx.Request.Body, Json, ctx.RequestAborted).ConfigureAwait(false)
                ?? throw new RequestRejectedException("The request body is empty (null).");
        }
        catch (JsonException e)
        {
            string where = string.IsNullOrEmpty(e.Path) ? "" : $" at {e.Path}";
            throw new RequestRejectedException($"The request body is not valid JSON for this endpoint{where}.");
        }
    }

    private sealed class UnsupportedContentTypeException : Exception
    {
        public UnsupportedContentTypeException(string message) : base(message)
        {
        }
    }
}
