namespace MLNet.MoE;

/// <summary>
/// Receives a mark at the boundaries of a forward pass's parts (embedding, each block's attention and feed-forward,
/// output head), so a benchmark can attribute time to them (for example by synchronising the GPU at each mark).
/// Null in normal runs: the model then does no extra work.
/// </summary>
internal interface IForwardProfiler
{
    /// <summary>The part named <paramref name="part"/> has just been queued.</summary>
    void Mark(string part);
}
