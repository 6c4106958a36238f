namespace MLNet.MoE;

/// <summary>Reads length-prefixed blocks of a model zip entry, failing clearly when the entry is truncated.</summary>
internal static class ModelStreams
{
    public static byte[] ReadBlock(BinaryReader reader, string entry)
    {
        int length;
        try
        {
            length = reader.ReadInt32();
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"Model entry '{entry}' is truncated.", e);
        }
        if (length < 0) throw new InvalidDataException($"Model entry '{entry}' is corrupt (negative length {length}).");
        long remaining = reader.BaseStream.CanSeek ? reader.BaseStream.Length - reader.BaseStream.Position : long.MaxValue;
        if (length > remaining) throw new InvalidDataException($"Model entry '{entry}' is truncated: {length} bytes announced, {remaining} present.");
        byte[] bytes = reader.ReadBytes(length);
        if (bytes.Length != length) throw new InvalidDataException($"Model entry '{entry}' is truncated: {length} bytes announced, {bytes.Length} read.");
        return bytes;
    }
}
