using System.Text;

namespace MLNet.MoE;

/// <summary>
/// The versioned binary form of a <see cref="MoeTokenizer"/>: the magic "MOETOK", a format version, the kind, the
/// name, then the kind's payload (nothing; an encoding name; or the full contents of the source files).
/// </summary>
internal sealed class TokenizerState
{
    /// <summary>The first bytes of every serialized tokenizer.</summary>
    public static readonly byte[] Magic = "MOETOK"u8.ToArray();

    /// <summary>The format version written; readers accept only this one.</summary>
    public const int FormatVersion = 1;

    /// <summary>What kind of tokenizer.</summary>
    public required TokenizerKind Kind { get; init; }

    /// <summary>The tokenizer's <see cref="MoeTokenizer.Name"/>.</summary>
    public required string Name { get; init; }

    /// <summary>Tiktoken: the encoding name; BPE files: vocab.json's file name; HF: tokenizer.json's file name.</summary>
    public string? Text { get; init; }

    /// <summary>BPE files: merges.txt's file name.</summary>
    public string? Text2 { get; init; }

    /// <summary>The end-of-text token asked for at creation, if any.</summary>
    public string? EndOfTextToken { get; init; }

    /// <summary>BPE files: vocab.json; HF: tokenizer.json.</summary>
    public byte[]? Data { get; init; }

    /// <summary>BPE files: merges.txt.</summary>
    public byte[]? Data2 { get; init; }

    /// <summary>Writes the state.</summary>
    public byte[] ToBytes()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write((byte)Kind);
            writer.Write(Name);
            WriteOptional(writer, Text);
            WriteOptional(writer, Text2);
            WriteOptional(writer, EndOfTextToken);
            WriteOptional(writer, Data);
            WriteOptional(writer, Data2);
        }
        return stream.ToArray();
    }

    /// <summary>Reads a state written by <see cref="ToBytes"/>; anything else gives <see cref="InvalidDataException"/>.</summary>
    public static TokenizerState FromBytes(byte[] state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Length < Magic.Length || !state.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new InvalidDataException("The data is not a serialized MoeTokenizer: it does not start with the MOETOK header.");
        }
        try
        {
            using var stream = new MemoryStream(state, writable: false);
            using var reader = new BinaryReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: true));
            reader.ReadBytes(Magic.Length);
            int version = reader.ReadInt32();
            if (version != FormatVersion)
            {
                throw new InvalidDataException($"The serialized MoeTokenizer has format version {version}; this library reads version {FormatVersion}.");
            }
            byte kind = reader.ReadByte();
            if (!Enum.IsDefined((TokenizerKind)kind))
            {
                throw new InvalidDataException($"The serialized MoeTokenizer has an unknown kind tag {kind}.");
            }
            var result = new TokenizerState
            {
                Kind = (TokenizerKind)kind,
                Name = reader.ReadString(),
                Text = ReadOptionalString(reader),
                Text2 = ReadOptionalString(reader),
                EndOfTextToken = ReadOptionalString(reader),
                Data = ReadOptionalBytes(reader),
                Data2 = ReadOptionalBytes(reader),
            };
            if (stream.Position != stream.Length)
            {
                throw new InvalidDataException($"The serialized MoeTokenizer has {stream.Length - stream.Position} unexpected bytes after its end.");
            }
            return result;
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or DecoderFallbackException or FormatException)
        {
            throw new InvalidDataException("The serialized MoeTokenizer is truncated or corrupt: " + ex.Message, ex);
        }
    }

    private static void WriteOptional(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null) writer.Write(value);
    }

    private static void WriteOptional(BinaryWriter writer, byte[]? value)
    {
        writer.Write(value is not null);
        if (value is null) return;
        writer.Write(value.Length);
        writer.Write(value);
    }

    private static string? ReadOptionalString(BinaryReader reader) => ReadFlag(reader) ? reader.ReadString() : null;

    private static byte[]? ReadOptionalBytes(BinaryReader reader)
    {
        if (!ReadFlag(reader)) return null;
        int length = reader.ReadInt32();
        long left = reader.BaseStream.Length - reader.BaseStream.Position;
        if (length < 0 || length > left)
        {
            throw new InvalidDataException($"The serialized MoeTokenizer is truncated or corrupt: a block claims {length} bytes but {left} remain.");
        }
        return reader.ReadBytes(length);
    }

    private static bool ReadFlag(BinaryReader reader)
    {
        byte flag = reader.ReadByte();
        if (flag > 1) throw new InvalidDataException($"The serialized MoeTokenizer is corrupt: expected a 0/1 flag, found {flag}.");
        return flag == 1;
    }
}
