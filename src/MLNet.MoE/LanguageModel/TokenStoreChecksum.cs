using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace MLNet.MoE;

/// <summary>
/// The checksums of a token store's chunks, computed from its four data files: XXH3-64 (System.IO.Hashing) of a
/// chunk's training ids, validation ids, training index entries and validation index entries, in that order. XXH3 rather
/// than the SHA-256 of model files because a store is read whole at every open and may hold tens of gigabytes.
/// </summary>
internal sealed class TokenStoreChecksum : IDisposable
{
    private readonly SafeFileHandle[] files;
    private readonly int bytesPerToken;
    private readonly byte[] buffer = new byte[1 << 20];

    /// <summary>Opens the four files of <paramref name="directory"/> for reading.</summary>
    public TokenStoreChecksum(string directory, int bytesPerToken)
    {
        this.bytesPerToken = bytesPerToken;
        files = new[] { TokenFile.TrainFileName, TokenFile.ValidationFileName, TokenFile.TrainIndexFileName, TokenFile.ValidationIndexFileName }
            .Select(name => File.OpenHandle(Path.Combine(directory, name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            .ToArray();
    }

    /// <summary>Where a chunk's bytes start: the tokens and documents of each split before it.</summary>
    public readonly record struct Start(long TrainTokens, long TrainDocuments, long ValidationTokens, long ValidationDocuments)
    {
        /// <summary>The start of the chunk after <paramref name="chunk"/>.</summary>
        public Start After(TokenFileChunk chunk) => new(TrainTokens + chunk.TrainTokens, TrainDocuments + chunk.TrainDocuments,
            ValidationTokens + chunk.ValidationTokens, ValidationDocuments + chunk.ValidationDocuments);
    }

    /// <summary>The checksum of <paramref name="chunk"/>'s bytes, which start at <paramref name="start"/>.</summary>
    public ulong Of(TokenFileChunk chunk, Start start)
    {
        var hash = new XxHash3();
        Append(hash, files[0], start.TrainTokens * bytesPerToken, chunk.TrainTokens * bytesPerToken);
        Append(hash, files[1], start.ValidationTokens * bytesPerToken, chunk.ValidationTokens * bytesPerToken);
        Append(hash, files[2], start.TrainDocuments * 8, chunk.TrainDocuments * 8);
        Append(hash, files[3], start.ValidationDocuments * 8, chunk.ValidationDocuments * 8);
        return hash.GetCurrentHashAsUInt64();
    }

    private void Append(XxHash3 hash, SafeFileHandle file, long offset, long count)
    {
        while (count > 0)
        {
            int read = RandomAccess.Read(file, buffer.AsSpan(0, (int)Math.Min(buffer.Length, count)), offset);
            if (read == 0) throw new EndOfStreamException();
            hash.Append(buffer.AsSpan(0, read));
            offset += read;
            count -= read;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var file in files) file.Dispose();
    }
}
