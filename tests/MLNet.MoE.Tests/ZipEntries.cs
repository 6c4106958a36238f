using System.IO.Compression;

namespace MLNet.MoE.Tests;

/// <summary>Rewrites entries of a model zip as a tool would: the zip stays valid (its CRC-32 is written anew with the entry).</summary>
internal static class ZipEntries
{
    /// <summary>The bytes of the single entry of <paramref name="zip"/> that <paramref name="select"/> picks.</summary>
    public static byte[] Read(ZipArchive zip, Func<ZipArchiveEntry, bool> select)
    {
        var entry = zip.Entries.Single(select);
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>Replaces the single entry of <paramref name="zip"/> that <paramref name="select"/> picks by <paramref name="change"/> of its bytes.</summary>
    public static void Rewrite(ZipArchive zip, Func<ZipArchiveEntry, bool> select, Func<byte[], byte[]> change)
    {
        byte[] changed = change(Read(zip, select));
        var entry = zip.Entries.Single(select);
        string name = entry.FullName;
        entry.Delete();
        using var stream = zip.CreateEntry(name).Open();
        stream.Write(changed);
    }

    /// <summary>Opens the zip file at <paramref name="path"/> and rewrites one entry (see <see cref="Rewrite(ZipArchive, Func{ZipArchiveEntry, bool}, Func{byte[], byte[]})"/>).</summary>
    public static void Rewrite(string path, Func<ZipArchiveEntry, bool> select, Func<byte[], byte[]> change)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        Rewrite(zip, select, change);
    }

    /// <summary>Selects the entry whose path ends with <paramref name="name"/> (for example "/Weights.bin").</summary>
    public static Func<ZipArchiveEntry, bool> EndingWith(string name) => e => e.FullName.EndsWith(name, StringComparison.Ordinal);
}
