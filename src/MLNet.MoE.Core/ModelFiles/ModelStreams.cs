using System.Security.Cryptography;
using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// Length-prefixed blocks of a model zip's entries: written, read (failing clearly when an entry is truncated), and
/// checked against the SHA-256 a transformer recorded for them in its header.
/// </summary>
internal static class ModelStreams
{
    /// <summary>Writes <paramref name="bytes"/> as entry <paramref name="entry"/>: its length, then the bytes.</summary>
    public static void WriteBlock(ModelSaveContext ctx, string entry, byte[] bytes) =>
        ctx.SaveBinaryStream(entry, w =>
        {
            w.Write(bytes.Length);
            w.Write(bytes);
        });

    /// <summary>
    /// Refuses entry <paramref name="entry"/> (the <paramref name="what"/> of a <paramref name="owner"/>) when its bytes'
    /// SHA-256 differs from <paramref name="recordedDigest"/>, the one recorded at save; null (an older zip) checks nothing.
    /// </summary>
    public static void RequireRecordedDigest(byte[] bytes, byte[]? recordedDigest, string entry, string what, string owner)
    {
        if (recordedDigest != null && !CryptographicOperations.FixedTimeEquals(recordedDigest, SHA256.HashData(bytes)))
            throw new InvalidDataException($"The {owner}'s model entry '{entry}' is not the {what} this {owner} was saved with (its SHA-256 differs from the one recorded at save): the entry was replaced or damaged.");
    }

    /// <summary>Reads a length-prefixed block of entry <paramref name="entry"/>.</summary>
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
