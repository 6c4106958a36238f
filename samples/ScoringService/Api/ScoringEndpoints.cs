using System.Diagnostics;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using MLNet.MoE.Samples.ScoringService.Backends;
using MLNet.MoE.Samples.ScoringService.Batching;
using MLNet.MoE.Samples.ScoringService.Caching;
using MLNet.MoE.Samples.ScoringService.Diagnostics;

namespace MLNet.MoE.Samples.ScoringService.Api;

/// <summary>
/// The HTTP API: <c>POST /v1/score</c> and <c>POST /v1/generate</c> (JSON or server-sent events). Bodies are read
/// strictly: an unknown field, a string where a number belongs, or a value out of bounds gets 400 naming the field; a text
/// longer than <see cref="ScoringServiceOptions.MaxTextCharacters"/> is refused before it is tokenized; 415 for a body that
/// is not JSON, 413 for one over the size limit; a full queue or busy generation slots get 503 with <c>Retry-After</c>.
/// Every error is a problem document without stack traces.
/// </summary>
public sealed class ScoringEndpoints
{
    /// <summary>How request bodies are read: camelCase, unknown fields refused, numbers only as JSON numbers.</summary>
    public static readonly JsonSerializerOptions RequestJson = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
    };

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
        metrics.ObserveGenerationSlots(() => this.options.MaxConcurrentGenerations - generationSlots.CurrentCount);
    }

    /// <summary>Maps the endpoints on <paramref name="app"/>, with their OpenAPI descriptions.</summary>
    public static void Map(WebApplication app)
    {
        app.MapPost("/v1/score", (HttpContext ctx, ScoringEndpoints api) => api.Run(ctx, "/v1/score", () => api.ScoreAsync(ctx)))
            .WithName("Score")
            .WithSummary("Scores texts: perplexity and next-token accuracy for a language model, label and class probabilities for a classifier.")
            .Accepts<ScoreRequest>("application/json")
            .Produces<ScoreResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        app.MapPost("/v1/generate", (HttpContext ctx, ScoringEndpoints api) => api.Run(ctx, "/v1/generate", () => api.GenerateAsync(ctx)))
            .WithName("Generate")
            .WithSummary("Continues a prompt; with \"stream\": true the text comes as server-sent events (message events, then a done event).")
            .Accepts<GenerateRequest>("application/json")
            .Produces<GenerateResponse>(StatusCodes.Status200OK)
            .Produces<GenerateResponse>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    private async Task<IResult> ScoreAsync(HttpContext ctx)
    {
        var request = await ReadBodyAsync<ScoreRequest>(ctx).ConfigureAwait(false);
        if (request.Texts is not { Count: > 0 } texts) throw new RequestRejectedException("texts must hold at least one text.");
        if (texts.Count > options.MaxTextsPerRequest) throw new RequestRejectedException($"texts holds {texts.Count} texts; at most {options.MaxTextsPerRequest} are allowed per request.");
        // Every text is checked for length before any is tokenized, so an oversized text costs no tokenizer time.
        for (int i = 0; i < texts.Count; i++)
        {
            string text = texts[i] ?? throw new RequestRejectedException($"texts[{i}] is null.");
            CheckCharacters(text, $"texts[{i}]");
        }
        var prepared = new PreparedText[texts.Count];
        for (int i = 0; i < texts.Count; i++) prepared[i] = backend.Prepare(texts[i]!, $"texts[{i}]");
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
        if (request.Prompt is { } text) CheckCharacters(text, "prompt");
        if (request.MaxTokens < 1 || request.MaxTokens > options.MaxNewTokens)
            throw new RequestRejectedException($"maxTokens is {request.MaxTokens}; it must be between 1 and {options.MaxNewTokens}.");
        if (!double.IsFinite(request.Temperature) || request.Temperature > options.MaxTemperature)
            throw new RequestRejectedException($"temperature is {request.Temperature.ToString(System.Globalization.CultureInfo.InvariantCulture)}; it must be between 0 and {options.MaxTemperature.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        if (request.TopK > options.MaxTopK)
            throw new RequestRejectedException($"topK is {request.TopK}; it must be between 0 (off) and {options.MaxTopK}.");
        var prompt = backend.PreparePrompt(request);
        var cancellation = ctx.RequestAborted;
        if (request.Stream)
        {
            using var slot = TakeGenerationSlot();
            await StreamAsync(ctx, prompt, cancellation).ConfigureAwait(false);
            return Results.Empty;
        }
        if (request.IsDeterministic)
        {
            string key = cache.GenerateKey(request, request.Temperature == 0 ? 0 : prompt.Seed);
            var (result, cached) = await cache.GetOrComputeAsync(key, token => GenerateOnceAsync(prompt, token), cancellation).ConfigureAwait(false);
            return Results.Json(new GenerateResponse(result.Text, result.TokenCount, result.FinishReason, cached), Json);
        }
        var sampled = await GenerateOnceAsync(prompt, cancellation).ConfigureAwait(false);
        return Results.Json(new GenerateResponse(sampled.Text, sampled.TokenCount, sampled.FinishReason, Cached: false), Json);
    }

    private async Task<GenerateResult> GenerateOnceAsync(PreparedPrompt prompt, CancellationToken cancellation)
    {
        using var slot = TakeGenerationSlot();
        var clock = Stopwatch.StartNew();
        var result = await Task.Run(() => backend.Generate(prompt, null, cancellation), CancellationToken.None).ConfigureAwait(false);
        metrics.Generation(result.TokenCount, clock.Elapsed);
        cancellation.ThrowIfCancellationRequested();
        return result;
    }

    /// <summary>Takes a generation slot (released when the returned object is disposed), or refuses with 503 when all are busy.</summary>
    private GenerationSlot TakeGenerationSlot()
    {
        if (!generationSlots.Wait(0)) throw new ServiceBusyException($"All {options.MaxConcurrentGenerations} generation slots are busy.", "generations_busy");
        return new GenerationSlot(generationSlots);
    }

    private void CheckCharacters(string text, string field)
    {
        if (text.Length > options.MaxTextCharacters)
            throw new RequestRejectedException($"{field} is {text.Length} characters long; at most {options.MaxTextCharacters} are allowed ({ScoringServiceOptions.SectionName}:{nameof(ScoringServiceOptions.MaxTextCharacters)}).");
    }

    private sealed class GenerationSlot : IDisposable
    {
        private SemaphoreSlim? slots;

        public GenerationSlot(SemaphoreSlim slots) => this.slots = slots;

        public void Dispose() => Interlocked.Exchange(ref slots, null)?.Release();
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
    private async Task<IResult> Run(HttpContext ctx, string route, Func<Task<IResult>> handler)
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
            metrics.Rejected(e.Reason);
            ctx.Response.Headers.RetryAfter = options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            (result, status) = (Problem(e.Message, StatusCodes.Status503ServiceUnavailable), StatusCodes.Status503ServiceUnavailable);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its queued work was removed. 499 is the usual log code for this; nobody reads the answer.
            (result, status) = (Results.StatusCode(499), 499);
        }
        metrics.Response(route, status, Stopwatch.GetElapsedTime(started));
        return result;
    }

    private static IResult Problem(string detail, int status) => Results.Problem(detail: detail, statusCode: status);

    private static async Task<T> ReadBodyAsync<T>(HttpContext ctx) where T : class
    {
        if (!ctx.Request.HasJsonContentType()) throw new UnsupportedContentTypeException("The request body must be JSON (Content-Type: application/json).");
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(ctx.Request.Body, RequestJson, ctx.RequestAborted).ConfigureAwait(false)
                ?? throw new RequestRejectedException("The request body is empty (null).");
        }
        catch (JsonException e)
        {
            throw new RequestRejectedException(RequestJsonErrors.Describe(e));
        }
    }

    private sealed class UnsupportedContentTypeException : Exception
    {
        public UnsupportedContentTypeException(string message) : base(message)
        {
        }
    }
}
