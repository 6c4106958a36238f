using System.IO.Compression;
using System.IO.Hashing;
using System.Runtime.ExceptionServices;
using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// Checks the CRC-32 of every zip entry a transformer is about to read. ML.NET reads model zips through
/// <see cref="ZipArchive"/>, which does not compare an entry's CRC-32 when the reader stops before the entry's end, so a
/// byte flipped in storage or transfer could load and change the scores; here each of the loading transformer's
/// entries is read to its end and its CRC-32 compared with the one the zip records. System.IO.Hashing computes the
/// checksum; the entries are found through ML.NET's repository reader.
/// </summary>
internal static class ZipEntryIntegrity
{
    /// <summary>
    /// Throws <see cref="InvalidDataException"/> naming the first entry of <paramref name="ctx"/>'s folder whose bytes do
    /// not match its CRC-32; the entries named in <paramref name="deferred"/> (within the folder) are left for
    /// <see cref="VerifyEntry"/>.
    /// </summary>
    public static void Verify(ModelLoadContext ctx, params string[] deferred)
    {
        if (ctx.Repository?._archive is not ZipArchive archive) return;
        string prefix = Prefix(ctx);
        foreach (ZipArchiveEntry entry in archive.Entries)
        {
            string name = entry.FullName.Replace('\\', '/');
            // The transformer's own entries: directly in its folder or in sub-folders it wrote.
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || name.Length == prefix.Length || name.EndsWith('/')) continue;
            if (deferred.Any(d => name == prefix + d)) continue;
            Check(entry, name, null);
        }
    }

    /// <summary>
    /// Checks the CRC-32 of the entry <paramref name="entryName"/> of <paramref name="ctx"/>'s folder and, in the same
    /// pass, hands its bytes to <paramref name="inspect"/> as they are read, so a check of the content costs no second
    /// decompression. Damage is reported as damage even when <paramref name="inspect"/> failed on the damaged bytes.
    /// Returns false when the zip has no such entry.
    /// </summary>
    public static bool VerifyEntry(ModelLoadContext ctx, string entryName, Action<BinaryReader> inspect)
    {
        if (ctx.Repository?._archive is not ZipArchive archive) return ctx.TryLoadBinaryStream(entryName, inspect);
        string name = Prefix(ctx) + entryName;
        var entry = archive.Entries.FirstOrDefault(e => e.FullName.Replace('\\', '/') == name);
        if (entry == null) return false;
        Check(entry, name, inspect);
        return true;
    }

    private static string Prefix(ModelLoadContext ctx)
    {
        string folder = (ctx.Directory ?? string.Empty).Replace('\\', '/').Trim('/');
        return folder.Length == 0 ? string.Empty : folder + "/";
    }

    private static void Check(ZipArchiveEntry entry, string name, Action<BinaryReader>? inspect)
    {
        var crc = new Crc32();
        byte[] buffer = new byte[1 << 16];
        long length;
        Exception? inspection = null;
        try
        {
            using Stream stream = entry.Open();
            using var counted = new Crc32ReadStream(stream, crc);
            if (inspect != null)
            {
                try
                {
                    using var reader = new BinaryReader(counted, System.Text.Encoding.UTF8, leaveOpen: true);
                    inspect(reader);
                }
                catch (InvalidDataException e)
                {
                    // Reported after the CRC-32: damaged bytes are named as damage, not as a wrong content.
                    inspection = e;
                }
            }
            while (counted.Read(buffer, 0, buffer.Length) > 0)
            {
            }
            length = counted.BytesRead;
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"Model zip entry '{name}' is damaged and cannot be decompressed: {MLNet.MoE.MessageText.Printable(e.Message)}", e);
        }
        if (crc.GetCurrentHashAsUInt32() != entry.Crc32 || length != entry.Length)
            throw new InvalidDataException($"Model zip entry '{name}' is damaged: its bytes do not match the CRC-32 the zip records (the file was corrupted in storage or transfer).");
        if (inspection != null) ExceptionDispatchInfo.Capture(inspection).Throw();
    }
}
