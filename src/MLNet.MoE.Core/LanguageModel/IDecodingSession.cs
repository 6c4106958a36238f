namespace MLNet.MoE;

/// <summary>One sequence being generated: the backend keeps the keys and values of every token fed so far.</summary>
internal interface IDecodingSession : IDisposable
{
    /// <summary>Feeds <paramref name="tokens"/> (the prompt first, then one new token a step) and returns the next-token logits (vocabulary size).</summary>
    float[] Feed(IReadOnlyList<int> tokens);
}
