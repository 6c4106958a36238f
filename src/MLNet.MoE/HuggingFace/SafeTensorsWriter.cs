using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Writes tensors to a safetensors file the way Hugging Face's <c>safetensors</c> library does: the JSON header padded
/// with spaces to a multiple of 8 bytes, the tensors' bytes in the order given, <c>"__metadata__": {"format": "pt"}</c>.
/// </summary>
internal static class SafeTensorsWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/>, replacing it atomically: the file is written to a
    /// temporary file in the same folder, flushed, then renamed over the target, so on any failure no partial file is left.
    /// </summary>
    /// <param name="path">The file to write; its folder is created when missing.</param>
    /// <param name="tensors">Name and tensor pairs, written in this order. Tensors may live on any device and need not be contiguous.</param>
    /// <param name="metadata">The header's <c>__metadata__</c> map; <c>{"format": "pt"}</c> when null. A <c>format</c> entry of <c>pt</c> is added when missing, as Hugging Face transformers expects one.</param>
    /// <param name="storeAs">A floating-point type (F32, BF16, F16 or F64) that floating-point tensors are converted to before they are written; null keeps each tensor's own type. Integer and boolean tensors are never converted.</param>
    /// <exception cref="ArgumentException">A name is empty, reserved or repeated (the message names it), a tensor's type cannot be stored, or <paramref name="storeAs"/> is not floating-point.</exception>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null, ScalarType? storeAs = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        string full = Path.GetFullPath(path);
        List<WritableTensor> items = Prepare(tensors, storeAs);
        if (metadata is not null)
        {
            foreach ((string key, string value) in metadata)
            {
                if (key is null || value is null)
                {
                    throw new ArgumentException($"Metadata entry '{key}' has a null key or value.", nameof(metadata));
                }
            }
        }
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.Write(full, stream => WriteTo(stream, items, metadata));
    }

    /// <summary>Checks names and types and works out each tensor's stored type and size, before any file is touched.</summary>
    internal static List<WritableTensor> Prepare(IEnumerable<KeyValuePair<string, Tensor>> tensors, ScalarType? storeAs)
    {
        if (storeAs is ScalarType s && !SafeTensorsDType.IsFloating(s))
        {
            throw new ArgumentException($"storeAs must be a floating-point type (Float32, BFloat16, Float16 or Float64), not {s}.", nameof(storeAs));
        }

        var items = new List<WritableTensor>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string name, Tensor tensor) in tensors)
        {
            if (string.IsNullOrEmpty(name))
            {
                throw new ArgumentException("A tensor name is null or empty.", nameof(tensors));
            }
            if (name == "__metadata__")
            {
                throw new ArgumentException("The tensor name '__metadata__' is reserved by the safetensors format.", nameof(tensors));
            }
            if (tensor is null)
            {
                throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
            }
            if (!names.Add(name))
            {
                throw new ArgumentException($"Tensor '{name}' is given more than once.", nameof(tensors));
            }

            ScalarType stored = storeAs is ScalarType target && SafeTensorsDType.IsFloating(tensor.dtype) ? target : tensor.dtype;
            if (!SafeTensorsDType.TryGetName(stored, out string dtype) || !SafeTensorsDType.TryGetElementSize(dtype, out int elementSize))
            {
                throw new ArgumentException($"Tensor '{name}' has type {stored}, which cannot be stored in a safetensors file.", nameof(tensors));
            }
            long[] shape = tensor.shape;
            long count = 1;
            foreach (long d in shape) count = checked(count * d);
            items.Add(new WritableTensor(name, tensor, stored, dtype, shape, checked(count * elementSize)));
        }
        return items;
    }

    /// <summary>Writes the header and the tensors' bytes to <paramref name="stream"/>.</summary>
    internal static void WriteTo(Stream stream, IReadOnlyList<WritableTensor> items, IReadOnlyDictionary<string, string>? metadata)
    {
        byte[] header = BuildHeader(items, metadata);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (WritableTensor item in items)
        {
            using var scope = torch.NewDisposeScope();
            Tensor data = item.Tensor.detach();
            if (data.device_type != DeviceType.CPU) data = data.cpu();
            if (data.dtype != item.StoredType) data = data.to_type(item.StoredType);
            data = data.contiguous();
            TensorBytes.WriteFrom(data, stream);
        }
    }

    private static byte[] BuildHeader(IReadOnlyList<WritableTensor> items, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            if (metadata is null || !metadata.ContainsKey("format"))
            {
                json.WriteString("format", "pt");
            }
            if (metadata is not null)
            {
                foreach ((string key, string value) in metadata)
                {
                    json.WriteString(key, value);
                }
            }
            json.WriteEndObject();

            long offset = 0;
            foreach (WritableTensor item in items)
            {
                json.WriteStartObject(item.Name);
                json.WriteString("dtype", item.DType);
                json.WriteStartArray("shape");
                foreach (long d in item.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset = checked(offset + item.ByteLength);
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }

        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}
