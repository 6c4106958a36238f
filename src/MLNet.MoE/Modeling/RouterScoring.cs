namespace MLNet.MoE;

/// <summary>How the router turns its logits into expert scores (<c>scoring_func</c>).</summary>
internal enum RouterScoring
{
    /// <summary><c>sigmoid</c>: DeepSeek-V3's independent scores.</summary>
    Sigmoid,

    /// <summary><c>softmax</c>: DeepSeek-V2 / DeepSeekMoE's scores over all experts.</summary>
    Softmax,
}
