using System.Collections.ObjectModel;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The weights of a Hugging Face checkpoint folder: either one <c>model.safetensors</c>, or shards
/// <c>model-00001-of-0000N.safetensors</c> listed by <c>model.safetensors.index.json</c>. Tensors are read on demand.
/// </summary>
internal sealed partial class CheckpointTensorSource : IDisposable
{
    /// <summary>The name of a single-file checkpoint's weights file.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The name of a sharded checkpoint's index, whose <c>weight_map</c> maps each tensor name to its shard file.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly IReadOnlyDictionary<string, SafeTensorsFile> _fileOf;

    private CheckpointTensorSource(string directory, List<SafeTensorsFile> files, OrderedDictionary<string, SafeTensorsFile> fileOf)
    {
        Directory = directory;
        _files = files;
        _fileOf = new ReadOnlyDictionary<string, SafeTensorsFile>(fileOf);
        Names = new ReadOnlyCollection<string>(fileOf.Keys.ToList());
    }

    /// <summary>The full path of the checkpoint folder.</summary>
    public string Directory { get; }

    /// <summary>The names of all tensors of the checkpoint: in file order for a single file, in index order for shards.</summary>
    public IReadOnlyCollection<string> Names { get; }

    /// <summary>The weights files opened: one, or one per shard.</summary>
    public IReadOnlyList<SafeTensorsFile> Files => _files.AsReadOnly();

    /// <summary>
    /// Opens the weights of a checkpoint folder: <c>model.safetensors</c> when present, else the shards that
    /// <c>model.safetensors.index.json</c> lists. Every shard's header is read and checked now.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder holds neither weights file, or the index names a shard that is missing.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or a tensor the index lists is absent from its shard.</exception>
    public static CheckpointTensorSource Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string full = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(full))
        {
            throw new DirectoryNotFoundException($"The checkpoint folder '{full}' does not exist.");
        }

        string single = Path.Combine(full, SingleFileName);
        if (File.Exists(single))
        {
            SafeTensorsFile file = SafeTensorsFile.Open(single);
            var fileOf = new OrderedDictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            foreach (string name in file.Tensors.Keys) fileOf.Add(name, file);
            return new CheckpointTensorSource(full, [file], fileOf);
        }

        string index = Path.Combine(full, IndexFileName);
        if (!File.Exists(index))
        {
            throw new FileNotFoundException($"The checkpoint folder '{full}' holds no weights: expected '{SingleFileName}', or '{IndexFileName}' with its shard files.", single);
        }
        return OpenSharded(full, index);
    }

    /// <summary>The header entry of a tensor.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <exception cref="KeyNotFoundException">The checkpoint has no tensor of that name.</exception>
    public SafeTensorInfo Info(string name) => FileOf(name).Tensors[name];

    /// <summary>Reads one tensor from its file as a new CPU tensor of <paramref name="targetType"/>.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="targetType">The element type of the returned tensor.</param>
    /// <exception cref="KeyNotFoundException">The checkpoint has no tensor of that name.</exception>
    public Tensor Read(string name, ScalarType targetType = ScalarType.Float32) => FileOf(name).ReadTensor(name, targetType);

    /// <summary>Reads one tensor from its file as a new CPU tensor in the type it is stored in (no widening).</summary>
    /// <param name="name">The tensor's name.</param>
    /// <exception cref="KeyNotFoundException">The checkpoint has no tensor of that name.</exception>
    /// <exception cref="NotSupportedException">The stored dtype has no TorchSharp counterpart.</exception>
    public Tensor ReadAsStored(string name)
    {
        SafeTensorsFile file = FileOf(name);
        string dtype = file.Tensors[name].DType;
        if (!SafeTensorsDType.TryGetScalarType(dtype, out ScalarType stored))
            throw new NotSupportedException($"Tensor '{name}' in '{file.Path}' has dtype {dtype}, which cannot be read; supported dtypes: {SafeTensorsDType.ReadableNames}.");
        return file.ReadTensor(name, stored);
    }

    /// <summary>True when the checkpoint has a tensor of that name.</summary>
    /// <param name="name">The tensor's name.</param>
    public bool Contains(string name) => _fileOf.ContainsKey(name);

    /// <summary>Closes all weights files.</summary>
    public void Dispose()
    {
        foreach (SafeTensorsFile file in _files) file.Dispose();
    }

    /// <summary>
    /// Writes tensors as a Hugging Face checkpoint's weights in <paramref name="directory"/>: one <c>model.safetensors</c>
    /// when their bytes fit in <paramref name="maxShardBytes"/>, else shards <c>model-00001-of-0000N.safetensors</c>
    /// filled in order up to that size (a tensor larger than the limit gets a shard of its own) plus
    /// <c>model.safetensors.index.json</c>. Every file is first written under a temporary name and flushed; only when all
    /// are written are they renamed into place (the index last), so a failure while writing leaves the folder as it was
    /// and no temporary files behind. Each rename is atomic; the set of renames is not one transaction. Weights files of an earlier save
    /// that the new layout does not use (a single file, an index, other shards) are then deleted, so a reader cannot
    /// pick up stale weights.
    /// </summary>
    /// <param name="directory">The checkpoint folder; created when missing.</param>
    /// <param name="tensors">Name and tensor pairs, written in this order.</param>
    /// <param name="maxShardBytes">The largest data size of one shard, in bytes.</param>
    /// <param name="storeAs">A floating-point type floating-point tensors are converted to; null keeps each tensor's type.</param>
    /// <exception cref="ArgumentException">A name is empty, reserved or repeated, or a tensor's type cannot be stored.</exception>
    public static void WriteSharded(string directory, IEnumerable<KeyValuePair<string, Tensor>> tensors, long maxShardBytes, ScalarType? storeAs = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        string full = Path.GetFullPath(directory);
        List<WritableTensor> items = SafeTensorsWriter.Prepare(tensors, storeAs);

        var shards = new List<List<WritableTensor>>();
        long current = 0;
        foreach (WritableTensor item in items)
        {
            if (shards.Count == 0 || (shards[^1].Count > 0 && current + item.ByteLength > maxShardBytes))
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(item);
            current += item.ByteLength;
        }
        if (shards.Count == 0) shards.Add([]);

        System.IO.Directory.CreateDirectory(full);
        string[] names = shards.Count == 1
            ? [SingleFileName]
            : Enumerable.Range(1, shards.Count).Select(i => ShardName(i, shards.Count)).ToArray();

        var pending = new List<(string Temp, string Target)>();
        try
        {
            for (int i = 0; i < shards.Count; i++)
            {
                string target = Path.Combine(full, names[i]);
                string temp = AtomicFile.TempPathFor(target);
                pending.Add((temp, target));
                List<WritableTensor> shard = shards[i];
                AtomicFile.WriteTemp(temp, stream => SafeTensorsWriter.WriteTo(stream, shard, null));
            }
            if (shards.Count > 1)
            {
                string target = Path.Combine(full, IndexFileName);
                string temp = AtomicFile.TempPathFor(target);
                pending.Add((temp, target));
                byte[] index = BuildIndex(items, shards, names);
                AtomicFile.WriteTemp(temp, stream => stream.Write(index));
            }
            foreach ((string temp, string target) in pending)
            {
                File.Move(temp, target, overwrite: true);
            }
        }
        catch
        {
            foreach ((string temp, _) in pending) AtomicFile.TryDelete(temp);
            throw;
        }

        var keep = new HashSet<string>(names, StringComparer.Ordinal);
        if (shards.Count > 1) keep.Add(IndexFileName);
        foreach (string stale in WeightsFiles(full).Where(f => !keep.Contains(f)))
        {
            File.Delete(Path.Combine(full, stale));
        }
    }

    private static CheckpointTensorSource OpenSharded(string directory, string index)
    {
        var weightMap = ReadWeightMap(index);
        var files = new List<SafeTensorsFile>();
        var byShard = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        var fileOf = new OrderedDictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach ((string name, string shard) in weightMap)
            {
                if (!byShard.TryGetValue(shard, out SafeTensorsFile? file))
                {
                    string shardPath = Path.Combine(directory, shard);
                    if (!File.Exists(shardPath))
                    {
                        throw new FileNotFoundException($"The index '{index}' lists the shard '{shard}' (for tensor '{name}'), but '{shardPath}' does not exist.", shardPath);
                    }
                    file = SafeTensorsFile.Open(shardPath);
                    files.Add(file);
                    byShard.Add(shard, file);
                }
                if (!file.Tensors.ContainsKey(name))
                {
                    throw new InvalidDataException($"The index '{index}' puts tensor '{name}' in the shard '{file.Path}', but that shard has no such tensor.");
                }
                fileOf.Add(name, file);
            }
            return new CheckpointTensorSource(directory, files, fileOf);
        }
        catch
        {
            foreach (SafeTensorsFile file in files) file.Dispose();
            throw;
        }
    }

    private static List<KeyValuePair<string, string>> ReadWeightMap(string index)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(index), new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The index '{index}' is not valid JSON ({MLNet.MoE.MessageText.Printable(e.Message)}).", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out JsonElement map)
                || map.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"The index '{index}' has no 'weight_map' object.");
            }

            var result = new List<KeyValuePair<string, string>>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                {
                    throw new InvalidDataException($"The index '{index}': field 'weight_map' entry '{entry.Name}' is a JSON {entry.Value.ValueKind}, not a file name.");
                }
                string shard = entry.Value.GetString()!;
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                {
                    throw new InvalidDataException($"The index '{index}': field 'weight_map' entry '{entry.Name}' names '{shard}', which is not a plain file name in the checkpoint folder.");
                }
                if (!seen.Add(entry.Name))
                {
                    throw new InvalidDataException($"The index '{index}': field 'weight_map' lists tensor '{entry.Name}' twice.");
                }
                result.Add(new(entry.Name, shard));
            }
            return result;
        }
    }

    private static byte[] BuildIndex(List<WritableTensor> items, List<List<WritableTensor>> shards, string[] names)
    {
        var shardOf = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            foreach (WritableTensor item in shards[i]) shardOf[item.Name] = names[i];
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", items.Sum(i => i.ByteLength));
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (string name in shardOf.Keys.Order(StringComparer.Ordinal))
            {
                json.WriteString(name, shardOf[name]);
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private static string ShardName(int number, int count) => $"model-{number:D5}-of-{count:D5}.safetensors";

    private static IEnumerable<string> WeightsFiles(string directory) =>
        System.IO.Directory.EnumerateFiles(directory)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(f => f == SingleFileName || f == IndexFileName || ShardPattern().IsMatch(f))
            .ToList();

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$")]
    private static partial Regex ShardPattern();

    private SafeTensorsFile FileOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_fileOf.TryGetValue(name, out SafeTensorsFile? file))
        {
            throw new KeyNotFoundException($"Tensor '{name}' is not in the checkpoint '{Directory}'.");
        }
        return file;
    }
}
