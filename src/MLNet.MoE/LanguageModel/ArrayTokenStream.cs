namespace MLNet.MoE;

/// <summary>A token stream held in an array (the in-memory path of <c>Fit</c> on an IDataView of token rows).</summary>
internal sealed class ArrayTokenStream : ITokenStream
{
    private readonly int[] ids;

    /// <summary>Wraps <paramref name="ids"/> (not copied).</summary>
    public ArrayTokenStream(int[] ids) => this.ids = ids;

    /// <inheritdoc />
    public long Length => ids.Length;

    /// <inheritdoc />
    public void Read(long start, Span<int> destination) => ids.AsSpan(checked((int)start), destination.Length).CopyTo(destination);
}
