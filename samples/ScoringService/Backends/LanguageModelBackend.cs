using MLNet.MoE.Modeling;
using MLNet.MoE.Pipeline;

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
    public PreparedText Prepare(string text, string field) => GenerationChecks.Tokenize(text, field, model.Tokenizer, ContextLength);

    /// <inheritdoc />
    public IReadOnlyList<ScoreResult> ScoreBatch(IReadOnlyList<PreparedText> inputs)
    {
        var scores = model.ScoreBatch(inputs.Select(i => i.Tokens).ToList(), maxTokensPerPass);
        return scores.Select(s => GenerationChecks.Score(s.CrossEntropySum, s.Correct, s.Tokens)).ToList();
    }

    /// <inheritdoc />
    public PreparedPrompt PreparePrompt(GenerateRequest request) => GenerationChecks.Prepare(request, model.Tokenizer, ContextLength);

    /// <inheritdoc />
    public GenerateResult Generate(PreparedPrompt prompt, Action<string>? onText, CancellationToken cancellation)
    {
        var request = prompt.Request;
        var sampler = new TokenSampler(request.Temperature, request.TopK, request.TopP, prompt.Seed);
        var stream = new GeneratedTextStream(model.Tokenizer, onText);
        bool cancelled = false;
        int[] output = TokenGenerator.Generate(model.Model, prompt.Tokens, request.MaxTokens, sampler, model.Tokenizer.EndOfTextId, generated =>
        {
            stream.Update(generated);
            return cancelled = cancellation.IsCancellationRequested;
        });
        string reason = cancelled ? "cancelled" : output.Length < request.MaxTokens ? "end_of_text" : "length";
        return new GenerateResult(stream.Finish(output), output.Length, reason);
    }

    /// <summary>Frees the model.</summary>
    public void Dispose() => model.Dispose();
}
