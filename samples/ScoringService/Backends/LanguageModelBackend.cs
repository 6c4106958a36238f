namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>
/// Serves a language model, whatever runs it: a TorchSharp <see cref="LanguageModelTransformer"/> or an ONNX Runtime
/// <see cref="OnnxLanguageModelTransformer"/> (a model.zip saved from <c>mlContext.MoeOnnx().LoadLanguageModel</c>).
/// Scores with <see cref="LanguageModelTransformerBase.ScoreBatch"/> (right-padded passes) and generates with
/// <see cref="LanguageModelTransformerBase.GenerateTokens"/> (the key/value cache), reporting each new piece of text as it
/// comes. Unlike the transformer, which keeps the last tokens of a long prompt, the service refuses a prompt that does
/// not fit, so a client never gets a continuation of a text it did not send.
/// </summary>
public sealed class LanguageModelBackend : IScoringBackend
{
    private readonly LanguageModelTransformerBase model;
    private readonly int maxTokensPerPass;

    /// <summary>Serves <paramref name="model"/> (owned and disposed by the backend).</summary>
    public LanguageModelBackend(LanguageModelTransformerBase model, string modelId, int maxTokensPerPass)
    {
        this.model = model;
        this.maxTokensPerPass = maxTokensPerPass;
        ModelId = modelId;
    }

    /// <inheritdoc />
    public string Kind => model is OnnxLanguageModelTransformer ? "language-model-onnx" : "language-model";

    /// <inheritdoc />
    public string ModelId { get; }

    /// <inheritdoc />
    public int ContextLength => model.ContextLength;

    /// <inheritdoc />
    public bool CanGenerate => true;

    /// <inheritdoc />
    public PreparedText Prepare(string text, string field) => LanguageModelRequests.Tokenize(text, field, model.Tokenizer, ContextLength);

    /// <inheritdoc />
    public IReadOnlyList<ScoreResult> ScoreBatch(IReadOnlyList<PreparedText> inputs) =>
        model.ScoreBatch(inputs.Select(i => i.Tokens).ToList(), maxTokensPerPass).Select(s => LanguageModelRequests.Score(s.CrossEntropySum, s.Correct, s.Tokens)).ToList();

    /// <inheritdoc />
    public PreparedPrompt PreparePrompt(GenerateRequest request) => LanguageModelRequests.PreparePrompt(request, model.Tokenizer, ContextLength);

    /// <inheritdoc />
    public GenerateResult Generate(PreparedPrompt prompt, Action<string>? onText, CancellationToken cancellation) =>
        GeneratedTextStream.Generate(prompt, model.Tokenizer, onText, cancellation, (options, step) => model.GenerateTokens(prompt.Tokens, options, step));

    /// <summary>Frees the model.</summary>
    public void Dispose() => model.Dispose();
}
