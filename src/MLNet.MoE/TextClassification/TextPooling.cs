namespace MLNet.MoE;

/// <summary>How a classifier turns the hidden states of a token sequence into one feature vector.</summary>
public enum TextPooling
{
    /// <summary>The hidden state of the last real (non-padding) token: with causal attention it has read the whole sequence.</summary>
    LastToken,

    /// <summary>The mean of the hidden states of the real (non-padding) tokens.</summary>
    Mean,
}
