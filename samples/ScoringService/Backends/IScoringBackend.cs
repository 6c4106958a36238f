namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>
/// What the service needs from a loaded model: turn a text into model input (rejecting what the model cannot take),
/// score many inputs in one call (the micro-batcher's unit of work) and, optionally, generate text. The service adds
/// hosting, batching and caching around it and knows nothing of TorchSharp. Implementations: <see cref="LanguageModelBackend"/>
/// (a language model, TorchSharp- or ONNX-backed) and <see cref="TextClassifierBackend"/> (a <c>MoeTextClassificationTransformer</c>).
/// Another kind of model is served by implementing this interface and recognising its transformer in <see cref="ScoringBackendLoader"/>.
/// </summary>
public interface IScoringBackend : IDisposable
{
    /// <summary>What kind of model this is (reported by <c>/healthz</c>), for example <c>language-model</c>.</summary>
    string Kind { get; }

    /// <summary>A fingerprint of the served model (part of every cache key, so a new model never reads an old model's results).</summary>
    string ModelId { get; }

    /// <summary>Most tokens of one scored text.</summary>
    int ContextLength { get; }

    /// <summary>True when <see cref="Generate"/> is supported.</summary>
    bool CanGenerate { get; }

    /// <summary>Tokenizes <paramref name="text"/>; throws <see cref="RequestRejectedException"/> when the model cannot score it.</summary>
    PreparedText Prepare(string text, string field);

    /// <summary>Scores every input in as few forward passes as the backend can; one result per input, in order. Called from one thread at a time.</summary>
    IReadOnlyList<ScoreResult> ScoreBatch(IReadOnlyList<PreparedText> inputs);

    /// <summary>Checks a generation request before it is run; throws <see cref="RequestRejectedException"/> when it cannot be.</summary>
    PreparedPrompt PreparePrompt(GenerateRequest request);

    /// <summary>Generates a continuation, calling <paramref name="onText"/> with each new piece of text; stops early when <paramref name="cancellation"/> fires.</summary>
    GenerateResult Generate(PreparedPrompt prompt, Action<string>? onText, CancellationToken cancellation);
}

/// <summary>A text and its token ids.</summary>
/// <param name="Text">The text as received.</param>
/// <param name="Tokens">Its token ids.</param>
public sealed record PreparedText(string Text, IReadOnlyList<int> Tokens);

/// <summary>A checked generation request with its prompt's token ids (end-of-text first).</summary>
/// <param name="Request">The request.</param>
/// <param name="Tokens">The prompt's ids.</param>
/// <param name="Seed">The sampler's seed (the request's, or a fresh random one).</param>
public sealed record PreparedPrompt(GenerateRequest Request, IReadOnlyList<int> Tokens, int Seed);
