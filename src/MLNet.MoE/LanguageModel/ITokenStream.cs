namespace MLNet.MoE;

/// <summary>A packed token stream the trainer samples windows from: an array in memory or a memory-mapped file of a token store.</summary>
internal interface ITokenStream
{
    /// <summary>Tokens in the stream (may exceed <see cref="int.MaxValue"/> for a mapped file).</summary>
    long Length { get; }

    /// <summary>Copies the ids from <paramref name="start"/> into <paramref name="destination"/> (its whole length).</summary>
    void Read(long start, Span<int> destination);
}
