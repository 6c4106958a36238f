using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Modeling;

/// <summary>
/// The weights entry of a model zip: a count, then per tensor its Hugging Face name, shape and float32 values, in the
/// model's state-dict order (parameters and the routing-bias buffers). Loading checks every name and shape before copying.
/// </summary>
internal static class ModelWeightsFormat
{
    private const int Magic = 0x4D4F4557; // "WEOM"

    public static void Write(BinaryWriter writer, nn.Module model) => Write(writer, model.state_dict());

    /// <summary>Writes named tensors (a state dict or a copy of one) in the weights-block layout.</summary>
    public static void Write(BinaryWriter writer, IReadOnlyDictionary<string, Tensor> state)
    {
        writer.Write(Magic);
        writer.Write(state.Count);
        foreach (var (name, tensor) in state)
        {
            using var cpu = tensor.detach().to(ScalarType.Float32).cpu().contiguous();
            writer.Write(name);
            writer.Write((int)cpu.dim());
            foreach (long d in cpu.shape) writer.Write(d);
            var values = cpu.data<float>();
            byte[] bytes = new byte[values.Count * sizeof(float)];
            Buffer.BlockCopy(values.ToArray(), 0, bytes, 0, bytes.Length);
            writer.Write(bytes);
        }
    }

    public static void Read(BinaryReader reader, nn.Module model, string entry) => Read(reader, model.state_dict(), entry);

    /// <summary>Reads a weights block into <paramref name="state"/>'s tensors, which must match it name for name and shape for shape.</summary>
    public static void Read(BinaryReader reader, IReadOnlyDictionary<string, Tensor> state, string entry)
    {
        try
        {
            if (reader.ReadInt32() != Magic) throw new InvalidDataException($"Model entry '{entry}' is not an MLNet.MoE weights block.");
            int count = reader.ReadInt32();
            if (count != state.Count) throw new InvalidDataException($"Model entry '{entry}' holds {count} tensors; the model config needs {state.Count}.");
            using var noGrad = torch.no_grad();
            for (int i = 0; i < count; i++)
            {
                string name = reader.ReadString();
                if (!state.TryGetValue(name, out var target)) throw new InvalidDataException($"Model entry '{entry}' holds tensor '{name}', which the model config does not have.");
                int rank = reader.ReadInt32();
                if (rank != target.dim()) throw new InvalidDataException($"Tensor '{name}' in '{entry}' has rank {rank}; the model needs {target.dim()}.");
                var shape = new long[rank];
                for (int d = 0; d < rank; d++) shape[d] = reader.ReadInt64();
                if (!shape.SequenceEqual(target.shape))
                    throw new InvalidDataException($"Tensor '{name}' in '{entry}' has shape [{string.Join(", ", shape)}]; the model needs [{string.Join(", ", target.shape)}].");
                long elements = target.numel();
                byte[] bytes = reader.ReadBytes(checked((int)(elements * sizeof(float))));
                if (bytes.Length != elements * sizeof(float)) throw new InvalidDataException($"Model entry '{entry}' is truncated inside tensor '{name}'.");
                var values = new float[elements];
                Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
                using var source = torch.tensor(values, shape);
                target.copy_(source);
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"Model entry '{entry}' is truncated.", e);
        }
    }
}
