namespace MLNet.MoE;

/// <summary>Totals of scoring a sequence of tokens.</summary>
/// <param name="CrossEntropySum">Summed next-token cross-entropy in nats.</param>
/// <param name="Correct">Tokens that were the model's most likely next token.</param>
/// <param name="Tokens">Tokens predicted.</param>
public readonly record struct StreamScore(double CrossEntropySum, long Correct, long Tokens)
{
    /// <summary>Mean cross-entropy per predicted token (nats); NaN when nothing was predicted.</summary>
    public double MeanCrossEntropy => Tokens == 0 ? double.NaN : CrossEntropySum / Tokens;
}
