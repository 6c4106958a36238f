using System.Collections;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace MLNet.MoE;

/// <summary>
/// One split's ids file of a token store, memory-mapped read-only (<see cref="MemoryMappedFile"/>): windows are copied
/// out of the page cache as they are drawn, and no copy of the stream lives in managed memory. Ids are checked against
/// the vocabulary as they are read, so even an unverified damaged file fails with its name rather than in the model.
/// Also a read-only list, for the validation stream's scoring (which indexes with <see cref="int"/>).
/// </summary>
internal sealed class MappedTokenSplit : ITokenStream, IReadOnlyList<int>, IDisposable
{
    private readonly MemoryMappedFile? file;
    private readonly MemoryMappedViewAccessor? view;
    private readonly int bytesPerToken;
    private readonly int vocabSize;

    /// <summary>Maps <paramref name="path"/>, which holds <paramref name="tokens"/> ids of <paramref name="bytesPerToken"/> bytes (its length already checked).</summary>
    public MappedTokenSplit(string path, long tokens, int bytesPerToken, int vocabSize)
    {
        Path = path;
        Length = tokens;
        this.bytesPerToken = bytesPerToken;
        this.vocabSize = vocabSize;
        if (tokens == 0) return; // a file of zero bytes cannot be mapped
        file = MemoryMappedFile.CreateFromFile(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read), null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        view = file.CreateViewAccessor(0, tokens * bytesPerToken, MemoryMappedFileAccess.Read);
    }

    /// <summary>The mapped file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public long Length { get; }

    /// <summary>The length as an <see cref="int"/>, for the list view.</summary>
    /// <exception cref="InvalidOperationException">The split holds more than <see cref="int.MaxValue"/> tokens.</exception>
    public int Count => Length <= int.MaxValue ? (int)Length
        : throw new InvalidOperationException($"Token file '{Path}' holds {Length:N0} ids, more than the validation scoring's {int.MaxValue:N0}: export the store with a smaller ValidationFraction.");

    /// <inheritdoc />
    public int this[int index]
    {
        get
        {
            Span<int> one = stackalloc int[1];
            Read(index, one);
            return one[0];
        }
    }

    /// <inheritdoc />
    public void Read(long start, Span<int> destination)
    {
        if (start < 0 || start + destination.Length > Length) throw new ArgumentOutOfRangeException(nameof(start), start, $"Tokens {start}..{start + destination.Length} are outside '{Path}' ({Length} ids).");
        if (destination.Length == 0) return;
        var handle = view!.SafeMemoryMappedViewHandle;
        ulong offset = (ulong)(view.PointerOffset + start * bytesPerToken);
        if (bytesPerToken == 2)
        {
            // Widen in place: read the uint16 ids into the upper half of the destination's bytes, then spread them from the front.
            var narrow = MemoryMarshal.Cast<int, ushort>(destination)[destination.Length..];
            handle.ReadSpan(offset, narrow);
            for (int i = 0; i < destination.Length; i++) destination[i] = narrow[i];
        }
        else
        {
            handle.ReadSpan(offset, MemoryMarshal.Cast<int, uint>(destination));
        }
        for (int i = 0; i < destination.Length; i++)
        {
            if ((uint)destination[i] >= (uint)vocabSize)
                throw new InvalidDataException($"Token file '{Path}': id {(uint)destination[i]} at position {start + i} is not below vocab_size {vocabSize}.");
        }
    }

    /// <inheritdoc />
    public IEnumerator<int> GetEnumerator()
    {
        var buffer = new int[1 << 16];
        for (long start = 0; start < Length; start += buffer.Length)
        {
            int count = (int)Math.Min(buffer.Length, Length - start);
            Read(start, buffer.AsSpan(0, count));
            for (int i = 0; i < count; i++) yield return buffer[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc />
    public void Dispose()
    {
        view?.Dispose();
        file?.Dispose();
    }
}
