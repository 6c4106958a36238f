
namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>
/// Serves a TorchSharp-backed <see cref="LanguageModelTransformer"/>: scores with
/// <see cref="LanguageModelBatchScoring.ScoreBatch"/> (one padded forward pass per batch) and generates with the
/// library's <see cref="TokenGenerator"/> (the path <see cref="LanguageModelTransformer.Generate"/> takes), reporting
/// each new piece of text as it comes. Unlike the transformer, which keeps the last tokens of a long prompt, the
/// service refuses a prompt that does not fit, so a client never gets a continuation of a text it did not send.
/// </summary>
public sealed class LanguageModelBackend : IScoringBackend
{
    private readonly LanguageModelTransformer model;
    private readonly int maxTokensPerPass;

    /// <summary>Serves <paramref name="model"/> (owned and disposed by the backend).</summary>
    public LanguageModelBackend(LanguageModelTransformer model, string modelId, int maxTokensPerPass)
    {
        this.model = model;
        this.maxTokensPerPass = maxTokensPerPass;
        ModelId = modelId;
    }

    /// <inheritdoc />
    public string Kind => "language-model";

    /// <inheritdoc />
    public string ModelId { get; }

    /// <inheritdoc />
    public int ContextLength => model.ContextLength;

    /// <inheritdoc />
    public bool CanGenerate => true;

    /// <inheritdoc />
    public PreparedText Prepare(string text, string field) => LanguageModelRequests.Tokenize(text, field, model.Tokenizer, ContextLength);

    /// <inheritdoc />
    public IReadOnlyList<ScoreResult> ScoreBatch(IReadOnlyList<PreparedText> inputs)
    {
        var scores = model.ScoreBatch(inputs.Select(i => i.Tokens).ToList(), maxTokensPerPass);
        return scores.Select(s => LanguageModelRequests.Score(s.CrossEntropySum, s.Correct, s.Tokens)).ToList();
    }

    /// <inheritdoc />
    public PreparedPrompt PreparePrompt(GenerateRequest request) => LanguageModelRequests.PreparePrompt(request, model.Tokenizer, ContextLength);

    /// <inheritdoc />
    public GenerateResult Generate(PreparedPrompt prompt, Action<string>? onText, CancellationToken cancellation) =>
        GeneratedTextStream.Generate(prompt, model.Tokenizer, onText, cancellation, (sampler, step) => TokenGenerator.Generate(model.Model, prompt.Tokens, prompt.Request.MaxTokens, sampler, model.Tokenizer.EndOfTextId, step));

    /// <summary>Frees the model.</summary>
    public void Dispose() => model.Dispose();
}
