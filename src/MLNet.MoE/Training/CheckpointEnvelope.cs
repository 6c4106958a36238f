namespace MLNet.MoE;

/// <summary>
/// The frame of every training-checkpoint file: a magic string and a format version ahead of the body, written
/// atomically; read back with one set of errors (missing file, another kind of file, another version, a corrupt count,
/// a truncated file), each naming the file.
/// </summary>
internal static class CheckpointEnvelope
{
    /// <summary>Writes <paramref name="magic"/>, <paramref name="version"/> and the body to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, string magic, int version, Action<BinaryWriter> body)
    {
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            writer.Write(magic);
            writer.Write(version);
            body(writer);
        });
    }

    /// <summary>
    /// Opens <paramref name="path"/>, checks its magic and version and reads the body; <paramref name="kind"/> names the
    /// file in errors ("Training checkpoint").
    /// </summary>
    public static T Read<T>(string path, string magic, int version, string kind, Func<BinaryReader, T> body)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{kind} '{path}' does not exist.", path);
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        try
        {
            if (reader.ReadString() != magic) throw new InvalidDataException($"'{path}' is not an MLNet.MoE {char.ToLowerInvariant(kind[0])}{kind[1..]}.");
            int found = reader.ReadInt32();
            if (found != version) throw new InvalidDataException($"{kind} '{path}' has format version {found}; this version of MLNet.MoE reads {version}.");
            return body(reader);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"{kind} '{path}' is truncated.", e);
        }
    }

    /// <summary>Reads the count of a checkpoint's progress reports, refusing a corrupt one.</summary>
    public static int ReadHistoryCount(BinaryReader reader, string path, string kind)
    {
        int count = reader.ReadInt32();
        if (count < 0 || count > 10_000_000) throw new InvalidDataException($"{kind} '{path}' is corrupt (history of {count} reports).");
        return count;
    }
}
