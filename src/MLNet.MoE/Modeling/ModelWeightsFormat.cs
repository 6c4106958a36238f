using System.Security.Cryptography;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The weights entry of a model zip: a count, then per tensor its Hugging Face name, shape and float32 values, in the
/// model's state-dict order (parameters and the routing-bias buffers), then the SHA-256 of those names, shapes and
/// values. Loading checks every name and shape before copying and the digest after the last tensor, so damaged bytes
/// that still decompress (a zip's own CRC-32 is not checked when ML.NET reads an entry) are refused instead of changing
/// the scores. Blocks written before the digest existed (<see cref="MagicWithoutDigest"/>) still load.
/// </summary>
internal static class ModelWeightsFormat
{
    private const int MagicWithoutDigest = 0x4D4F4557; // "WEOM"
    private const int Magic = 0x324F4557; // "WEO2": the same layout followed by a SHA-256 digest
    private const int LongestName = 1024;

    public static void Write(BinaryWriter writer, nn.Module model) => Write(writer, model.state_dict());

    /// <summary>Writes named tensors (a state dict or a copy of one) in the weights-block layout.</summary>
    public static void Write(BinaryWriter writer, IReadOnlyDictionary<string, Tensor> state)
    {
        writer.Write(Magic);
        writer.Write(state.Count);
        using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, tensor) in state)
        {
            using var cpu = tensor.detach().to(ScalarType.Float32).cpu().contiguous();
            writer.Write(name);
            writer.Write((int)cpu.dim());
            foreach (long d in cpu.shape) writer.Write(d);
            float[] values = cpu.data<float>().ToArray();
            if (!AllFinite(values))
                throw new InvalidOperationException($"Tensor '{name}' holds NaN or infinite values: a diverged model is not saved (it could not be loaded back).");
            byte[] bytes = new byte[values.Length * sizeof(float)];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            writer.Write(bytes);
            AppendTensor(digest, name, cpu.shape, bytes);
        }
        writer.Write(digest.GetHashAndReset());
    }

    private static bool AllFinite(float[] values)
    {
        foreach (float v in values)
        {
            if (!float.IsFinite(v)) return false;
        }
        return true;
    }

    private static void AppendTensor(IncrementalHash digest, string name, long[] shape, byte[] values)
    {
        digest.AppendData(Encoding.UTF8.GetBytes(name));
        digest.AppendData(BitConverter.GetBytes(shape.Length));
        foreach (long d in shape) digest.AppendData(BitConverter.GetBytes(d));
        digest.AppendData(values);
    }

    private static string ReadName(BinaryReader reader, string entry)
    {
        // The length prefix is read first so that damaged bytes cannot announce a name of gigabytes.
        int length = reader.Read7BitEncodedInt();
        if (length < 0 || length > LongestName)
            throw new InvalidDataException($"Model entry '{entry}' is damaged: a tensor name of {length} bytes is announced.");
        byte[] bytes = reader.ReadBytes(length);
        if (bytes.Length != length) throw new EndOfStreamException();
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"Model entry '{entry}' is damaged: a tensor name is not valid UTF-8.");
        }
    }

    public static void Read(BinaryReader reader, nn.Module model, string entry) => Read(reader, model.state_dict(), entry);

    /// <summary>
    /// Checks that a weights block holds exactly the tensors of <paramref name="layout"/> (names and shapes) without
    /// building anything: the values are read past, not kept. Run before a model is built from a config, so a block that
    /// does not fit the config is refused before the model's memory is allocated.
    /// </summary>
    public static void CheckLayout(BinaryReader reader, IReadOnlyList<(string Name, long[] Shape)> layout, string entry)
    {
        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (name, shape) in layout) expected[name] = shape;
        try
        {
            int count = ReadBlockHeader(reader, expected.Count, entry).Count;
            byte[] skip = new byte[1 << 16];
            for (int i = 0; i < count; i++)
            {
                var (name, shape) = ReadTensorHeader(reader, n => expected.Remove(n, out long[]? s) ? s : null, entry);
                long bytes = shape.Aggregate(1L, (a, b) => a * b) * sizeof(float);
                while (bytes > 0)
                {
                    int read = reader.Read(skip, 0, (int)Math.Min(skip.Length, bytes));
                    if (read <= 0) throw new InvalidDataException($"Model entry '{entry}' is truncated inside tensor '{name}'.");
                    bytes -= read;
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"Model entry '{entry}' is truncated.", e);
        }
    }

    /// <summary>Reads a weights block into <paramref name="state"/>'s tensors, which must match it name for name and shape for shape.</summary>
    public static void Read(BinaryReader reader, IReadOnlyDictionary<string, Tensor> state, string entry)
    {
        try
        {
            var (hasDigest, count) = ReadBlockHeader(reader, state.Count, entry);
            using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var noGrad = torch.no_grad();
            for (int i = 0; i < count; i++)
            {
                var (name, shape) = ReadTensorHeader(reader, n => state.TryGetValue(n, out var t) ? t.shape : null, entry);
                long elements = shape.Aggregate(1L, (a, b) => a * b);
                byte[] bytes = reader.ReadBytes(checked((int)(elements * sizeof(float))));
                if (bytes.Length != elements * sizeof(float)) throw new InvalidDataException($"Model entry '{entry}' is truncated inside tensor '{name}'.");
                var values = new float[elements];
                Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
                if (!AllFinite(values))
                    throw new InvalidDataException($"Tensor '{name}' in '{entry}' holds NaN or infinite values: the model file is damaged, or was saved from a diverged model.");
                using var source = torch.tensor(values, shape);
                state[name].copy_(source);
                if (hasDigest) AppendTensor(digest, name, shape, bytes);
            }
            if (hasDigest)
            {
                byte[] recorded = reader.ReadBytes(32);
                if (recorded.Length != 32) throw new EndOfStreamException();
                if (!CryptographicOperations.FixedTimeEquals(recorded, digest.GetHashAndReset()))
                    throw new InvalidDataException($"Model entry '{entry}' is damaged: its weights do not match the SHA-256 recorded when it was saved (the file was altered or corrupted in storage or transfer).");
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"Model entry '{entry}' is truncated.", e);
        }
    }

    /// <summary>The block's magic and tensor count, checked against the <paramref name="expectedCount"/> tensors of the config.</summary>
    private static (bool HasDigest, int Count) ReadBlockHeader(BinaryReader reader, int expectedCount, string entry)
    {
        int magic = reader.ReadInt32();
        if (magic != Magic && magic != MagicWithoutDigest) throw new InvalidDataException($"Model entry '{entry}' is not an MLNet.MoE weights block.");
        int count = reader.ReadInt32();
        if (count != expectedCount) throw new InvalidDataException($"Model entry '{entry}' holds {count} tensors; the model config needs {expectedCount}.");
        return (magic == Magic, count);
    }

    /// <summary>
    /// One tensor's name and shape, checked against <paramref name="shapeOf"/> (the config's shape for a name, or null for
    /// a name it does not have).
    /// </summary>
    private static (string Name, long[] Shape) ReadTensorHeader(BinaryReader reader, Func<string, long[]?> shapeOf, string entry)
    {
        string name = ReadName(reader, entry);
        long[] target = shapeOf(name)
            ?? throw new InvalidDataException($"Model entry '{entry}' holds tensor '{MLNet.MoE.MessageText.Printable(name, 80)}', which the model config does not have (the entry is damaged or belongs to another model).");
        int rank = reader.ReadInt32();
        if (rank != target.Length) throw new InvalidDataException($"Tensor '{name}' in '{entry}' has rank {rank}; the model config needs {target.Length}.");
        var shape = new long[rank];
        for (int d = 0; d < rank; d++) shape[d] = reader.ReadInt64();
        if (!shape.SequenceEqual(target))
            throw new InvalidDataException($"Tensor '{name}' in '{entry}' has shape [{string.Join(", ", shape)}]; the model config needs [{string.Join(", ", target)}].");
        return (name, shape);
    }
}
