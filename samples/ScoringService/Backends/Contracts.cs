using System.Text.Json.Serialization;

namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>Body of <c>POST /v1/score</c>.</summary>
public sealed class ScoreRequest
{
    /// <summary>The texts to score (at least one).</summary>
    public List<string?>? Texts { get; set; }
}

/// <summary>
/// Scores of one text: by a language model, mean next-token cross-entropy (nats), perplexity, tokens scored and
/// next-token accuracy; by a classifier, the predicted label and the class probabilities (and the tokens read).
/// </summary>
/// <param name="Score">Mean next-token cross-entropy in nats (null for an empty text or a classifier).</param>
/// <param name="Perplexity">exp(Score) (null for an empty text or a classifier).</param>
/// <param name="TokenCount">Tokens scored (the first predicted from end-of-text), or read by a classifier.</param>
/// <param name="TokenAccuracy">Share of tokens that were the model's most likely next token (null for an empty text or a classifier).</param>
/// <param name="Label">The most probable class (its key value, else its index), for a classifier.</param>
/// <param name="Probabilities">Class name → probability, for a classifier.</param>
public sealed record ScoreResult(double? Score, double? Perplexity, long TokenCount, double? TokenAccuracy,
    string? Label = null, IReadOnlyDictionary<string, double>? Probabilities = null);

/// <summary>One scored text in a response.</summary>
public sealed class ScoredText
{
    /// <summary>Mean next-token cross-entropy in nats.</summary>
    public double? Score { get; init; }

    /// <summary>exp(Score).</summary>
    public double? Perplexity { get; init; }

    /// <summary>Tokens scored.</summary>
    public long TokenCount { get; init; }

    /// <summary>Share of tokens that were the most likely next token.</summary>
    public double? TokenAccuracy { get; init; }

    /// <summary>The predicted class (classifier only; omitted otherwise).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Label { get; init; }

    /// <summary>Class name → probability (classifier only; omitted otherwise).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, double>? Probabilities { get; init; }

    /// <summary>True when the result came from the cache.</summary>
    public bool Cached { get; init; }

    /// <summary>Copies a backend's result.</summary>
    public static ScoredText From(ScoreResult result, bool cached) => new()
    {
        Score = result.Score, Perplexity = result.Perplexity, TokenCount = result.TokenCount, TokenAccuracy = result.TokenAccuracy,
        Label = result.Label, Probabilities = result.Probabilities, Cached = cached,
    };
}

/// <summary>Response of <c>POST /v1/score</c>.</summary>
/// <param name="Model">The backend kind.</param>
/// <param name="Results">One entry per text, in order.</param>
public sealed record ScoreResponse(string Model, IReadOnlyList<ScoredText> Results);

/// <summary>Body of <c>POST /v1/generate</c>.</summary>
public sealed class GenerateRequest
{
    /// <summary>The text to continue.</summary>
    public string? Prompt { get; set; }

    /// <summary>Most new tokens (default 32).</summary>
    public int MaxTokens { get; set; } = 32;

    /// <summary>Sampling temperature; 0 picks the most likely token (greedy).</summary>
    public double Temperature { get; set; }

    /// <summary>Sample among the k most likely tokens only (0: all).</summary>
    public int TopK { get; set; }

    /// <summary>Nucleus sampling: the smallest set of tokens whose probability reaches p (1: all).</summary>
    public double TopP { get; set; } = 1.0;

    /// <summary>Sampler seed; with a seed (or temperature 0) the request is deterministic and cacheable.</summary>
    public int? Seed { get; set; }

    /// <summary>Stream the text as server-sent events instead of one JSON answer.</summary>
    public bool Stream { get; set; }

    /// <summary>True when the same request always yields the same text.</summary>
    [JsonIgnore]
    public bool IsDeterministic => Temperature == 0 || Seed.HasValue;
}

/// <summary>Result of a generation.</summary>
/// <param name="Text">The generated text.</param>
/// <param name="TokenCount">New tokens generated.</param>
/// <param name="FinishReason"><c>length</c> (max tokens reached), <c>end_of_text</c> or <c>cancelled</c>.</param>
public sealed record GenerateResult(string Text, int TokenCount, string FinishReason);

/// <summary>Response of <c>POST /v1/generate</c>.</summary>
/// <param name="Text">The generated text.</param>
/// <param name="TokenCount">New tokens generated.</param>
/// <param name="FinishReason"><c>length</c> or <c>end_of_text</c>.</param>
/// <param name="Cached">True when the answer came from the cache.</param>
public sealed record GenerateResponse(string Text, int TokenCount, string FinishReason, bool Cached);
