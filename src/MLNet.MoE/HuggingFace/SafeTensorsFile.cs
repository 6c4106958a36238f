using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// A streaming reader of one safetensors file: the header is read and checked when the file is opened, and each
/// tensor's bytes are read from disk only when that tensor is asked for.
/// </summary>
/// <remarks>
/// The format: 8 bytes holding the header length N (unsigned, little-endian), N bytes of UTF-8 JSON mapping each tensor
/// name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> plus an optional <c>"__metadata__"</c> string map,
/// then the data area, which the offsets index. Reads are positional, so one instance may serve several threads.
/// </remarks>
internal sealed class SafeTensorsFile : IDisposable
{
    /// <summary>The largest header this reader accepts, in bytes (100 MB); real checkpoints use well under 1 MB per file.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private const string MetadataKey = "__metadata__";

    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;

    private SafeTensorsFile(string path, SafeFileHandle handle, long dataStart, IReadOnlyDictionary<string, SafeTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        _dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The full path of the file.</summary>
    public string Path { get; }

    /// <summary>The tensors the header lists, by name, in the order their bytes lie in the file.</summary>
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> map (for files written by PyTorch, <c>{"format": "pt"}</c>); empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// Opens a safetensors file and checks its header: every size and offset is validated before anything sized from
    /// it is allocated.
    /// </summary>
    /// <param name="path">The file to open.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a well-formed safetensors file; the message names the file and, where it applies, the tensor and the header field.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"The safetensors file '{full}' does not exist.", full);
        }

        SafeFileHandle handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            long length = RandomAccess.GetLength(handle);
            if (length < 8)
            {
                throw Invalid(full, $"it is {length} bytes long, too short to hold the 8-byte header length");
            }

            Span<byte> prefix = stackalloc byte[8];
            ReadExactly(handle, prefix, 0, full);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength == 0)
            {
                throw Invalid(full, "the header length is 0, so there is no JSON header");
            }
            if (headerLength > (ulong)(length - 8))
            {
                throw Invalid(full, $"the header length {headerLength} runs past the end of the file, which is {length} bytes long");
            }
            if (headerLength > MaxHeaderBytes)
            {
                throw Invalid(full, $"the header length {headerLength} is larger than the {MaxHeaderBytes}-byte limit");
            }

            byte[] header = new byte[(int)headerLength];
            ReadExactly(handle, header, 8, full);
            long dataStart = 8 + (long)headerLength;
            long dataLength = length - dataStart;
            (var tensors, var metadata) = ParseHeader(full, header, dataLength);
            return new SafeTensorsFile(full, handle, dataStart, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads one tensor's bytes from the file (only that tensor's bytes) and returns it as a new CPU tensor of
    /// <paramref name="targetType"/>. BF16 and F16 widen to F32 exactly.
    /// </summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="targetType">The element type of the returned tensor.</param>
    /// <exception cref="KeyNotFoundException">The file has no tensor of that name.</exception>
    /// <exception cref="NotSupportedException">The tensor's dtype (e.g. FP8) has no TorchSharp counterpart.</exception>
    public Tensor ReadTensor(string name, ScalarType targetType = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (!Tensors.TryGetValue(name, out SafeTensorInfo? info))
        {
            throw new KeyNotFoundException($"Tensor '{name}' is not in '{Path}'.");
        }
        if (!SafeTensorsDType.TryGetScalarType(info.DType, out ScalarType sourceType))
        {
            throw new NotSupportedException($"Tensor '{name}' in '{Path}' has dtype {info.DType}, which cannot be read; supported dtypes: {SafeTensorsDType.ReadableNames}.");
        }

        Tensor raw = torch.empty(info.Shape, dtype: sourceType, device: torch.CPU);
        try
        {
            TensorBytes.ReadInto(_handle, _dataStart + info.Begin, raw, info.ByteLength, Path, name);
            if (sourceType == targetType)
            {
                return raw;
            }
            Tensor converted = raw.to_type(targetType);
            raw.Dispose();
            return converted;
        }
        catch
        {
            raw.Dispose();
            throw;
        }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _handle.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"{Path} ({Tensors.Count} tensors)";

    private static (IReadOnlyDictionary<string, SafeTensorInfo>, IReadOnlyDictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Invalid(path, $"the header is not valid JSON (byte {e.BytePositionInLine + 1}: {MLNet.MoE.MessageText.Printable(e.Message)})", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(path, $"the header is a JSON {document.RootElement.ValueKind}, not an object");
            }

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<SafeTensorInfo>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            bool metadataSeen = false;
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (metadataSeen)
                    {
                        throw Invalid(path, $"'{MetadataKey}' appears twice in the header");
                    }
                    metadataSeen = true;
                    ParseMetadata(path, property.Value, metadata);
                    continue;
                }
                if (!seen.Add(property.Name))
                {
                    throw Invalid(path, $"tensor '{property.Name}' appears twice in the header");
                }
                entries.Add(ParseEntry(path, property.Name, property.Value, dataLength));
            }

            CheckOverlaps(path, entries);

            var tensors = new OrderedDictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            foreach (SafeTensorInfo info in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                tensors.Add(info.Name, info);
            }
            return (new ReadOnlyDictionary<string, SafeTensorInfo>(tensors), new ReadOnlyDictionary<string, string>(metadata));
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(path, $"'{MetadataKey}' is a JSON {value.ValueKind}, not an object of strings");
        }
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw Invalid(path, $"'{MetadataKey}' field '{item.Name}' is a JSON {item.Value.ValueKind}, not a string");
            }
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafeTensorInfo ParseEntry(string path, string name, JsonElement entry, long dataLength)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(path, $"tensor '{name}': the entry is a JSON {entry.ValueKind}, not an object");
        }

        JsonElement dtypeElement = Field(path, name, entry, "dtype");
        if (dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw Invalid(path, $"tensor '{name}': field 'dtype' is a JSON {dtypeElement.ValueKind}, not a string");
        }
        string dtype = dtypeElement.GetString()!;
        if (!SafeTensorsDType.TryGetElementSize(dtype, out int elementSize))
        {
            throw Invalid(path, $"tensor '{name}': field 'dtype' has the unknown dtype '{dtype}'");
        }

        long[] shape = NonNegativeIntegers(path, name, Field(path, name, entry, "shape"), "shape");
        long[] offsets = NonNegativeIntegers(path, name, Field(path, name, entry, "data_offsets"), "data_offsets");
        if (offsets.Length != 2)
        {
            throw Invalid(path, $"tensor '{name}': field 'data_offsets' has {offsets.Length} numbers instead of 2 ([begin, end])");
        }
        long begin = offsets[0], end = offsets[1];
        if (begin > end)
        {
            throw Invalid(path, $"tensor '{name}': field 'data_offsets' [{begin}, {end}] begins after it ends");
        }

        long byteLength;
        try
        {
            long count = 1;
            foreach (long d in shape) count = checked(count * d);
            byteLength = checked(count * elementSize);
        }
        catch (OverflowException e)
        {
            throw Invalid(path, $"tensor '{name}': field 'shape' [{string.Join(", ", shape)}] describes more bytes than a 64-bit size can hold", e);
        }
        if (byteLength != end - begin)
        {
            throw Invalid(path, $"tensor '{name}': field 'shape' [{string.Join(", ", shape)}] of {dtype} needs {byteLength} bytes, but field 'data_offsets' [{begin}, {end}] spans {end - begin}");
        }
        if (end > dataLength)
        {
            throw Invalid(path, $"tensor '{name}': field 'data_offsets' [{begin}, {end}] lies outside the data area, which is {dataLength} bytes long");
        }
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private static JsonElement Field(string path, string name, JsonElement entry, string field)
    {
        if (!entry.TryGetProperty(field, out JsonElement value))
        {
            throw Invalid(path, $"tensor '{name}' has no '{field}' field");
        }
        return value;
    }

    private static long[] NonNegativeIntegers(string path, string name, JsonElement value, string field)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw Invalid(path, $"tensor '{name}': field '{field}' is a JSON {value.ValueKind}, not an array of integers");
        }
        var result = new long[value.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long number))
            {
                throw Invalid(path, $"tensor '{name}': field '{field}' holds {item.GetRawText()}, which is not a 64-bit integer");
            }
            if (number < 0)
            {
                throw Invalid(path, $"tensor '{name}': field '{field}' holds the negative number {number}");
            }
            result[i++] = number;
        }
        return result;
    }

    private static void CheckOverlaps(string path, List<SafeTensorInfo> entries)
    {
        SafeTensorInfo? furthest = null;
        foreach (SafeTensorInfo info in entries.Where(e => e.ByteLength > 0).OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (furthest != null && info.Begin < furthest.End)
            {
                throw Invalid(path, $"tensors '{furthest.Name}' (field 'data_offsets' [{furthest.Begin}, {furthest.End}]) and '{info.Name}' ([{info.Begin}, {info.End}]) overlap");
            }
            if (furthest == null || info.End > furthest.End) furthest = info;
        }
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string path)
    {
        while (!buffer.IsEmpty)
        {
            int read = RandomAccess.Read(handle, buffer, offset);
            if (read <= 0)
            {
                throw Invalid(path, $"the file ended at byte {offset} while its header was being read");
            }
            buffer = buffer[read..];
            offset += read;
        }
    }

    private static InvalidDataException Invalid(string path, string reason, Exception? inner = null) =>
        new($"'{path}' is not a valid safetensors file: {reason}.", inner);
}
