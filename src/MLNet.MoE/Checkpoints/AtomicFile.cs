namespace MLNet.MoE.Checkpoints;

/// <summary>Helpers for replacing files atomically: write a temporary file beside the target, then rename it over the target.</summary>
internal static class AtomicFile
{
    /// <summary>A fresh temporary path in the same folder as <paramref name="target"/>, so the final rename stays on one file system.</summary>
    public static string TempPathFor(string target)
    {
        string directory = Path.GetDirectoryName(target) ?? ".";
        return Path.Combine(directory, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
    }

    /// <summary>Writes a file through <paramref name="write"/> to a temporary path and renames it over <paramref name="target"/>; on failure, the temporary file is deleted and the target is left as it was.</summary>
    public static void Write(string target, Action<Stream> write)
    {
        string temp = TempPathFor(target);
        try
        {
            WriteTemp(temp, write);
            File.Move(temp, target, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Creates <paramref name="temp"/>, fills it through <paramref name="write"/> and flushes it to disk.</summary>
    public static void WriteTemp(string temp, Action<Stream> write)
    {
        using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
        write(stream);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Deletes a file if it exists, ignoring failures (used while cleaning up after another error).</summary>
    public static void TryDelete(string path)
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
