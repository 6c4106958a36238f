using System.Text;

namespace MLNet.MoE;

/// <summary>Writes files so that a reader never sees a partial one: a temporary file in the same folder, then a rename.</summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="target"/> through <paramref name="write"/>: the bytes go to a temporary file beside it,
    /// flushed to disk, then renamed over it. On failure the temporary file is deleted and the target is left as it was.</summary>
    public static void Write(string target, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        string full = Path.GetFullPath(target);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = TempPathFor(full);
        try
        {
            WriteTemp(temp, write);
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Writes UTF-8 text atomically.</summary>
    public static void WriteAllText(string target, string text) => Write(target, stream =>
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        stream.Write(bytes, 0, bytes.Length);
    });

    /// <summary>A fresh temporary path in the same folder as <paramref name="target"/>, so the final rename stays on one file system.</summary>
    internal static string TempPathFor(string target)
    {
        string directory = Path.GetDirectoryName(target) ?? ".";
        return Path.Combine(directory, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
    }

    /// <summary>Creates <paramref name="temp"/>, fills it through <paramref name="write"/> and flushes it to disk.</summary>
    internal static void WriteTemp(string temp, Action<Stream> write)
    {
        using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
        write(stream);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Deletes a file if it exists, ignoring failures (used while cleaning up after another error).</summary>
    internal static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
