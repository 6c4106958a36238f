namespace MLNet.MoE;

/// <summary>Quality of a language model over a scored data view (token-weighted over all rows).</summary>
public sealed record LanguageModelMetrics
{
    /// <summary>Mean next-token cross-entropy, nats per token.</summary>
    public double CrossEntropy { get; init; }

    /// <summary>exp(<see cref="CrossEntropy"/>).</summary>
    public double Perplexity { get; init; }

    /// <summary>Total cross-entropy in bits divided by the UTF-8 bytes of the text; NaN when no text column was given.
    /// Comparable across tokenizers.</summary>
    public double BitsPerByte { get; init; }

    /// <summary>Share of tokens that were the model's most likely next token.</summary>
    public double NextTokenAccuracy { get; init; }

    /// <summary>Tokens scored.</summary>
    public long TokenCount { get; init; }

    /// <summary>Rows scored (rows with no tokens are not counted).</summary>
    public long RowCount { get; init; }
}
