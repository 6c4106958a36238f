using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Moves a CPU tensor's raw bytes to and from files in bounded chunks, without staging the whole tensor in managed memory.</summary>
internal static class TensorBytes
{
    /// <summary>The largest number of bytes moved in one read or write. Settable so tests can exercise the chunking.</summary>
    internal static int ChunkBytes { get; set; } = 64 << 20;

    /// <summary>Fills a contiguous CPU tensor with <paramref name="byteLength"/> bytes read at <paramref name="fileOffset"/>.</summary>
    public static void ReadInto(SafeFileHandle file, long fileOffset, Tensor destination, long byteLength, string path, string name)
    {
        if (byteLength == 0) return;
        ForEachChunk(destination, (part, byteOffset) =>
        {
            Span<byte> target = part.bytes;
            long offset = fileOffset + byteOffset;
            while (!target.IsEmpty)
            {
                int read = RandomAccess.Read(file, target, offset);
                if (read <= 0)
                {
                    throw new InvalidDataException($"'{path}' ended while reading tensor '{name}' at byte {offset}: the file was truncated or changed after it was opened.");
                }
                target = target[read..];
                offset += read;
            }
        });
    }

    /// <summary>Writes a contiguous CPU tensor's bytes to <paramref name="stream"/>.</summary>
    public static void WriteFrom(Tensor source, Stream stream)
    {
        if (source.NumberOfElements == 0) return;
        ForEachChunk(source, (part, _) => stream.Write(part.bytes));
    }

    /// <summary>Calls <paramref name="action"/> with consecutive views of at most <see cref="ChunkBytes"/> bytes of a contiguous CPU tensor and their byte offsets.</summary>
    private static void ForEachChunk(Tensor tensor, Action<Tensor, long> action)
    {
        EnsureLittleEndian();
        using Tensor flat = tensor.reshape(-1);
        long elementSize = flat.ElementSize;
        long chunkElements = Math.Max(1, ChunkBytes / elementSize);
        long total = flat.shape[0];
        for (long start = 0; start < total; start += chunkElements)
        {
            using Tensor part = flat.narrow(0, start, Math.Min(chunkElements, total - start));
            action(part, start * elementSize);
        }
    }

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors data is little-endian; reading or writing it on a big-endian machine is not supported.");
        }
    }
}
