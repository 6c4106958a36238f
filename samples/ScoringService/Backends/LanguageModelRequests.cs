
namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>What the language-model backends share: checking and tokenizing texts to score and generation requests, and turning sums into scores.</summary>
internal static class LanguageModelRequests
{
    /// <summary>Refuses a request the model cannot run (<see cref="RequestRejectedException"/>, naming the field) and tokenizes its prompt.</summary>
    public static PreparedPrompt PreparePrompt(GenerateRequest request, MoeTokenizer tokenizer, int contextLength)
    {
        if (request.Prompt is null) throw new RequestRejectedException("prompt is required.");
        if (request.MaxTokens < 1) throw new RequestRejectedException($"maxTokens is {request.MaxTokens}; it must be at least 1.");
        if (!(request.Temperature >= 0)) throw new RequestRejectedException($"temperature is {request.Temperature}; it must be 0 (greedy) or positive.");
        if (request.TopK < 0) throw new RequestRejectedException($"topK is {request.TopK}; it must be 0 (off) or positive.");
        if (!(request.TopP > 0 && request.TopP <= 1)) throw new RequestRejectedException($"topP is {request.TopP}; it must be in (0, 1].");
        var ids = new List<int> { tokenizer.EndOfTextId };
        ids.AddRange(tokenizer.Encode(request.Prompt));
        if (ids.Count + request.MaxTokens > contextLength)
        {
            throw new RequestRejectedException(
                $"prompt is {ids.Count - 1} tokens long; with maxTokens {request.MaxTokens} it needs {ids.Count + request.MaxTokens} positions (end-of-text first) but the model's context is {contextLength} tokens.");
        }
        return new PreparedPrompt(request, ids, request.Seed ?? Random.Shared.Next());
    }

    /// <summary>Tokenizes a text to score; refuses one longer than the model's context, naming <paramref name="field"/>.</summary>
    public static PreparedText Tokenize(string text, string field, MoeTokenizer tokenizer, int contextLength)
    {
        int[] tokens = tokenizer.Encode(text);
        if (tokens.Length > contextLength)
            throw new RequestRejectedException($"{field} is {tokens.Length} tokens long; the model's context is {contextLength} tokens.");
        return new PreparedText(text, tokens);
    }

    /// <summary>A language model's scores of one text: mean cross-entropy, perplexity, tokens and next-token accuracy (nulls for an empty text).</summary>
    public static ScoreResult Score(double crossEntropySum, long correct, long tokens) => tokens == 0
        ? new ScoreResult(null, null, 0, null)
        : new ScoreResult(crossEntropySum / tokens, Math.Exp(crossEntropySum / tokens), tokens, (double)correct / tokens);
}
