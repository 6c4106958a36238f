using System.IO.Compression;
using System.IO.Hashing;
using Microsoft.ML;

namespace MLNet.MoE.Pipeline;

/// <summary>
/// Checks the CRC-32 of every zip entry a transformer is about to read. ML.NET reads model zips through
/// <see cref="ZipArchive"/>, which does not compare an entry's CRC-32 when the reader stops before the entry's end, so a
/// byte flipped in storage or transfer could load and change the scores; here each of the loading transformer's
/// entries is read to its end and its CRC-32 compared with the one the zip records. System.IO.Hashing computes the
/// checksum; the entries are found through ML.NET's repository reader.
/// </summary>
internal static class ZipEntryIntegrity
{
    /// <summary>Throws <see cref="InvalidDataException"/> naming the first entry of <paramref name="ctx"/>'s folder whose bytes do not match its CRC-32.</summary>
    public static void Verify(ModelLoadContext ctx)
    {
        if (ctx.Repository?._archive is not ZipArchive archive) return;
        string folder = (ctx.Directory ?? string.Empty).Replace('\\', '/').Trim('/');
        string prefix = folder.Length == 0 ? string.Empty : folder + "/";
        var crc = new Crc32();
        byte[] buffer = new byte[1 << 16];
        foreach (ZipArchiveEntry entry in archive.Entries)
        {
            string name = entry.FullName.Replace('\\', '/');
            // The transformer's own entries: directly in its folder or in sub-folders it wrote.
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || name.Length == prefix.Length || name.EndsWith('/')) continue;
            crc.Reset();
            long length = 0;
            try
            {
                using Stream stream = entry.Open();
                for (int read; (read = stream.Read(buffer, 0, buffer.Length)) > 0;)
                {
                    crc.Append(buffer.AsSpan(0, read));
                    length += read;
                }
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"Model zip entry '{name}' is damaged and cannot be decompressed: {MLNet.MoE.Tokenization.MessageText.Printable(e.Message)}", e);
            }
            if (crc.GetCurrentHashAsUInt32() != entry.Crc32 || length != entry.Length)
                throw new InvalidDataException($"Model zip entry '{name}' is damaged: its bytes do not match the CRC-32 the zip records (the file was corrupted in storage or transfer).");
        }
    }
}
