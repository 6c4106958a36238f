
namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>
/// Serves an ONNX-backed <see cref="OnnxLanguageModelTransformer"/> (a model.zip saved from
/// <c>mlContext.MoeOnnx().LoadLanguageModel</c>): scores a batch in right-padded ONNX Runtime runs
/// (<see cref="OnnxLanguageModelTransformer.ScoreBatch"/>) and generates with ONNX Runtime and the key/value cache, with
/// the same checks, results and streaming as <see cref="LanguageModelBackend"/>.
/// </summary>
public sealed class OnnxLanguageModelBackend : IScoringBackend
{
    private readonly OnnxLanguageModelTransformer model;
    private readonly int maxTokensPerPass;

    /// <summary>Serves <paramref name="model"/> (owned and disposed by the backend).</summary>
    public OnnxLanguageModelBackend(OnnxLanguageModelTransformer model, string modelId, int maxTokensPerPass)
    {
        this.model = model;
        this.maxTokensPerPass = maxTokensPerPass;
        ModelId = modelId;
    }

    /// <inheritdoc />
    public string Kind => "language-model-onnx";

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
        GeneratedTextStream.Generate(prompt, model.Tokenizer, onText, cancellation, (sampler, step) => model.Generate(prompt.Tokens, prompt.Request.MaxTokens, sampler, step));

    /// <summary>Frees the ONNX Runtime session.</summary>
    public void Dispose() => model.Dispose();
}
