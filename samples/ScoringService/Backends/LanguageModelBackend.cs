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
    public PreparedText Prepare(string text, string field)
    {
        int[] tokens = model.Tokenizer.Encode(text);
        if (tokens.Length > ContextLength)
            throw new RequestRejectedException($"{field} is {tokens.Length} tokens long; the model's context is {ContextLength} tokens.");
        return new PreparedText(text, tokens);
    }

    /// <inheritdoc />
    public IReadOnlyList<ScoreResult> ScoreBatch(IReadOnlyList<PreparedText> inputs)
    {
        var scores = model.ScoreBatch(inputs.Select(i => i.Tokens).ToList(), maxTokensPerPass);
        return scores.Select(s => s.Tokens == 0
            ? new ScoreResult(null, null, 0, null)
            : new ScoreResult(s.CrossEntropySum / s.Tokens, Math.Exp(s.CrossEntropySum / s.Tokens), s.Tokens, (double)s.Correct / s.Tokens)).ToList();
    }

    /// <inheritdoc />
    public PreparedPrompt PreparePrompt(GenerateRequest request)
    {
        if (request.Prompt is null) throw new RequestRejectedException("prompt is required.");
        if (request.MaxTokens < 1) throw new RequestRejectedException($"maxTokens is {request.MaxTokens}; it must be at least 1.");
        if (!(request.Temperature >= 0)) throw new RequestRejectedException($"temperature is {request.Temperature}; it must be 0 (greedy) or positive.");
        if (request.TopK < 0) throw new RequestRejectedException($"topK is {request.TopK}; it must be 0 (off) or positive.");
        if (!(request.TopP > 0 && request.TopP <= 1)) throw new RequestRejectedException($"topP is {request.TopP}; it must be in (0, 1].");
        var ids = new List<int> { model.Tokenizer.EndOfTextId };
        ids.AddRange(model.Tokenizer.Encode(request.Prompt));
        if (ids.Count + request.MaxTokens > ContextLength)
        {
            throw new RequestRejectedException(
                $"prompt is {ids.Count - 1} tokens long; with maxTokens {request.MaxTokens} it needs {ids.Count + request.MaxTokens} positions (end-of-text first) but the model's context is {ContextLength} tokens.");
        }
        return new PreparedPrompt(request, ids, request.Seed ?? Random.Shared.Next());
    }

    /// <inheritdoc />
    public GenerateResult Generate(PreparedPrompt prompt, Action<string>? onText, CancellationToken cancellation)
    {
        var request = prompt.Request;
        var sampler = new TokenSampler(request.Temperature, request.TopK, request.TopP, prompt.Seed);
        int emitted = 0;
        bool cancelled = false;
        bool Step(IReadOnlyList<int> generated)
        {
            if (onText != null)
            {
                // A byte-level token may end inside a UTF-8 character: hold back a trailing replacement character.
                string text = model.Tokenizer.Decode(generated);
                int ready = text.Length;
                while (ready > emitted && text[ready - 1] == '\uFFFD') ready--;
                if (ready > emitted)
                {
                    onText(text[emitted..ready]);
                    emitted = ready;
                }
            }
            cancelled = cancellation.IsCancellationRequested;
            return cancelled;
        }
        int[] output = TokenGenerator.Generate(model.Model, prompt.Tokens, request.MaxTokens, sampler, model.Tokenizer.EndOfTextId, Step);
        string final = model.Tokenizer.Decode(output);
        if (onText != null && final.Length > emitted) onText(final[emitted..]);
        string reason = cancelled ? "cancelled" : output.Length < request.MaxTokens ? "end_of_text" : "length";
        return new GenerateResult(final, output.Length, reason);
    }

    /// <summary>Frees the model.</summary>
    public void Dispose() => model.Dispose();
}
