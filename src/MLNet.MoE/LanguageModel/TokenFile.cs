using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNet.MoE;

/// <summary>
/// A tokenized corpus on disk (a token store): flat binary files of token ids plus a JSON header, read by the
/// language-model trainer through a memory map (<see cref="TokenStore"/>) and by training engines outside .NET
/// (<c>numpy.memmap</c>). A folder holds <c>train.bin</c> and <c>validation.bin</c> (packed streams: every document
/// preceded by the end-of-text id, ids little-endian <c>uint16</c> or <c>uint32</c>), <c>train.idx</c> and
/// <c>validation.idx</c> (version 2: each document's start, little-endian int64) and <c>tokens.json</c>, the header,
/// written last: a reader that finds the header finds complete data files. The header lists the chunks the files were
/// written in, with an XXH3-64 checksum each. No library reads or writes such files, so these classes do. Format:
/// docs/token-store.md.
/// </summary>
internal static class TokenFile
{
    /// <summary>The header's file name.</summary>
    public const string HeaderFileName = "tokens.json";

    /// <summary>The value of the header's <c>format</c> field.</summary>
    public const string FormatName = "mlnet-moe-tokens";

    /// <summary>The header version this library writes (it reads 1 and 2).</summary>
    public const int CurrentVersion = 2;

    /// <summary>The training ids' file.</summary>
    public const string TrainFileName = "train.bin";

    /// <summary>The validation ids' file.</summary>
    public const string ValidationFileName = "validation.bin";

    /// <summary>The training documents' index.</summary>
    public const string TrainIndexFileName = "train.idx";

    /// <summary>The validation documents' index.</summary>
    public const string ValidationIndexFileName = "validation.idx";

    /// <summary>The checksum algorithm named in the header.</summary>
    public const string ChecksumName = "xxh3-64";

    /// <summary>The dtype of <paramref name="vocabSize"/> ids: uint16 when every id fits, else uint32.</summary>
    public static string DTypeFor(int vocabSize) => vocabSize <= ushort.MaxValue + 1 ? "uint16" : "uint32";

    /// <summary>Reads and checks the header of the token file folder <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">The folder has no <c>tokens.json</c>.</exception>
    /// <exception cref="InvalidDataException">The header is not one this library wrote or is inconsistent; the message names the file and field.</exception>
    public static TokenFileInfo ReadHeader(string directory) => ReadManifest(directory).Info;

    /// <summary>Reads and checks the header and its chunk table (empty for version 1).</summary>
    public static (TokenFileInfo Info, IReadOnlyList<TokenFileChunk> Chunks) ReadManifest(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string path = Path.Combine(Path.GetFullPath(directory), HeaderFileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"'{directory}' is not a token file folder: it has no {HeaderFileName}.", path);
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) as JsonObject ?? throw new InvalidDataException($"Token file header '{path}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Token file header '{path}' is not valid JSON: {MLNet.MoE.MessageText.Printable(e.Message)}", e);
        }
        try
        {
            string format = Required<string>(json, "format", path);
            if (format != FormatName) throw new InvalidDataException($"Token file header '{path}': field 'format' is '{format}', not '{FormatName}'.");
            int version = Required<int>(json, "version", path);
            if (version is < 1 or > CurrentVersion) throw new InvalidDataException($"Token file header '{path}': version {version} is not supported (this library reads versions 1 to {CurrentVersion}).");
            string dtype = Required<string>(json, "dtype", path);
            if (dtype is not ("uint16" or "uint32")) throw new InvalidDataException($"Token file header '{path}': field 'dtype' is '{dtype}', not uint16 or uint32.");
            var splits = json["splits"] as JsonObject ?? throw new InvalidDataException($"Token file header '{path}' has no 'splits' object.");
            TokenFileSplit Split(string name)
            {
                var split = splits[name] as JsonObject ?? throw new InvalidDataException($"Token file header '{path}' has no split '{name}'.");
                string file = FileName(Required<string>(split, "file", path), name);
                long tokens = Required<long>(split, "tokens", path);
                long documents = Required<long>(split, "documents", path);
                if (tokens < 0 || documents < 0 || documents > tokens) throw new InvalidDataException($"Token file header '{path}': split '{name}' has {tokens} tokens and {documents} documents.");
                string? index = version >= 2 ? FileName(Required<string>(split, "index", path), name) : null;
                return new TokenFileSplit(file, tokens, documents) { IndexFile = index };
            }
            string FileName(string file, string split) => file.Length > 0 && Path.GetFileName(file) == file
                ? file
                : throw new InvalidDataException($"Token file header '{path}': split '{split}' names '{file}', which is not a file name in the folder.");
            var info = new TokenFileInfo
            {
                Format = format,
                Version = version,
                DType = dtype,
                VocabSize = Required<int>(json, "vocab_size", path),
                EndOfTextId = Required<int>(json, "eos_token_id", path),
                Tokenizer = Required<string>(json, "tokenizer", path),
                Train = Split("train"),
                Validation = Split("validation"),
                ValidationFraction = Required<double>(json, "validation_fraction", path),
                Seed = Required<int>(json, "seed", path),
                SourceColumn = Required<string>(json, "source_column", path),
                Identity = version >= 2 ? Required<string>(json, "identity", path) : null,
            };
            if (info.VocabSize < 1 || (uint)info.EndOfTextId >= (uint)info.VocabSize)
                throw new InvalidDataException($"Token file header '{path}': eos_token_id {info.EndOfTextId} is not below vocab_size {info.VocabSize}.");
            if (version < 2) return (info, []);
            if (dtype != DTypeFor(info.VocabSize)) throw new InvalidDataException($"Token file header '{path}': dtype {dtype} does not match vocab_size {info.VocabSize} (expected {DTypeFor(info.VocabSize)}).");
            string checksum = Required<string>(json, "checksum", path);
            if (checksum != ChecksumName) throw new InvalidDataException($"Token file header '{path}': field 'checksum' is '{checksum}', not '{ChecksumName}'.");
            var chunks = ReadChunks(json, path);
            CheckTotals(info, chunks, path);
            string identity = Identity(info, chunks);
            if (info.Identity != identity) throw new InvalidDataException($"Token file header '{path}': field 'identity' is '{info.Identity}', but its chunk table makes '{identity}'; the header is damaged.");
            return (info, chunks);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or OverflowException)
        {
            throw new InvalidDataException($"Token file header '{path}' has a field of the wrong type: {MLNet.MoE.MessageText.Printable(e.Message)}", e);
        }
    }

    /// <summary>Reads the training (or, with <paramref name="validation"/>, the validation) stream of the folder into memory, checking its length and ids against the header.</summary>
    /// <exception cref="InvalidDataException">The file's length disagrees with the header, the stream is longer than an array holds, or an id is not below vocab_size; the message names the file.</exception>
    public static int[] ReadSplit(string directory, TokenFileInfo info, bool validation = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(info);
        var split = validation ? info.Validation : info.Train;
        string path = Path.Combine(Path.GetFullPath(directory), split.File);
        CheckLength(path, split.Tokens * info.BytesPerToken, $"{split.Tokens} {info.DType} ids");
        if (split.Tokens > Array.MaxLength) throw new InvalidDataException($"Token file '{path}' holds {split.Tokens:N0} ids, more than one array can hold; open the folder with mlContext.MoE().LoadTokens, which maps it instead.");
        var ids = new int[split.Tokens];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var buffer = new byte[1 << 20];
        long position = 0;
        int bytesPerToken = info.BytesPerToken;
        while (position < ids.Length)
        {
            int want = (int)Math.Min(buffer.Length / bytesPerToken, ids.Length - position);
            stream.ReadExactly(buffer, 0, want * bytesPerToken);
            for (int i = 0; i < want; i++)
            {
                int id = bytesPerToken == 2
                    ? BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(2 * i))
                    : (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(4 * i)));
                if (id >= info.VocabSize) throw new InvalidDataException($"Token file '{path}': id {id} at position {position + i} is not below vocab_size {info.VocabSize}.");
                ids[position + i] = id;
            }
            position += want;
        }
        return ids;
    }

    /// <summary>Refuses a missing file or one whose length is not <paramref name="expected"/> bytes, naming it.</summary>
    public static void CheckLength(string path, long expected, string what)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Token file '{path}' named by {HeaderFileName} is missing.", path);
        long length = new FileInfo(path).Length;
        if (length != expected) throw new InvalidDataException($"Token file '{path}' holds {length} bytes; the header promises {what} ({expected} bytes).");
    }

    /// <summary>
    /// The store's identity: XXH3-64 of the dtype, vocabulary, end-of-text id, split settings, totals and every chunk's
    /// checksum, as 16 hex digits. Equal identities mean equal files.
    /// </summary>
    public static string Identity(TokenFileInfo info, IReadOnlyList<TokenFileChunk> chunks)
    {
        var hash = new XxHash3();
        var field = new byte[8];
        void Add(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(field, value);
            hash.Append(field);
        }
        Add(info.BytesPerToken);
        Add(info.VocabSize);
        Add(info.EndOfTextId);
        Add(info.Seed);
        Add(BitConverter.DoubleToInt64Bits(info.ValidationFraction));
        Add(info.Train.Tokens);
        Add(info.Train.Documents);
        Add(info.Validation.Tokens);
        Add(info.Validation.Documents);
        foreach (var chunk in chunks)
        {
            Add(chunk.Rows);
            Add(unchecked((long)chunk.Checksum));
        }
        return hash.GetCurrentHashAsUInt64().ToString("x16", CultureInfo.InvariantCulture);
    }

    /// <summary>The header's JSON text.</summary>
    public static string ToJson(TokenFileInfo info, IReadOnlyList<TokenFileChunk> chunks)
    {
        static JsonObject Split(TokenFileSplit s) => new() { ["file"] = s.File, ["index"] = s.IndexFile, ["tokens"] = s.Tokens, ["documents"] = s.Documents };
        var table = new JsonArray();
        foreach (var c in chunks)
        {
            table.Add(new JsonArray(c.Rows, c.TrainTokens, c.TrainDocuments, c.ValidationTokens, c.ValidationDocuments, c.Checksum.ToString("x16", CultureInfo.InvariantCulture)));
        }
        var json = new JsonObject
        {
            ["format"] = info.Format,
            ["version"] = info.Version,
            ["dtype"] = info.DType,
            ["byte_order"] = "little",
            ["vocab_size"] = info.VocabSize,
            ["eos_token_id"] = info.EndOfTextId,
            ["tokenizer"] = info.Tokenizer,
            ["packing"] = "documents concatenated, each preceded by eos_token_id",
            ["index_dtype"] = "int64",
            ["splits"] = new JsonObject { ["train"] = Split(info.Train), ["validation"] = Split(info.Validation) },
            ["validation_fraction"] = info.ValidationFraction,
            ["seed"] = info.Seed,
            ["split_rule"] = "splitmix64(seed, document) < validation_fraction; the last document when none is chosen",
            ["source_column"] = info.SourceColumn,
            ["checksum"] = ChecksumName,
            ["chunk_fields"] = new JsonArray("rows", "train_tokens", "train_documents", "validation_tokens", "validation_documents", "xxh3_64"),
            ["chunks"] = table,
            ["identity"] = info.Identity,
        };
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static List<TokenFileChunk> ReadChunks(JsonObject json, string path)
    {
        var table = json["chunks"] as JsonArray ?? throw new InvalidDataException($"Token file header '{path}' has no 'chunks' array.");
        var chunks = new List<TokenFileChunk>(table.Count);
        foreach (var node in table)
        {
            if (node is not JsonArray row || row.Count != 6) throw new InvalidDataException($"Token file header '{path}': chunk {chunks.Count} is not an array of 6 fields.");
            var chunk = new TokenFileChunk(row[0]!.GetValue<long>(), row[1]!.GetValue<long>(), row[2]!.GetValue<long>(), row[3]!.GetValue<long>(), row[4]!.GetValue<long>(),
                ulong.Parse(row[5]!.GetValue<string>(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
            if (chunk.Rows < 0 || chunk.TrainTokens < 0 || chunk.TrainDocuments < 0 || chunk.ValidationTokens < 0 || chunk.ValidationDocuments < 0)
                throw new InvalidDataException($"Token file header '{path}': chunk {chunks.Count} has negative counts.");
            chunks.Add(chunk);
        }
        return chunks;
    }

    private static void CheckTotals(TokenFileInfo info, IReadOnlyList<TokenFileChunk> chunks, string path)
    {
        long trainTokens = 0, trainDocuments = 0, validationTokens = 0, validationDocuments = 0;
        foreach (var c in chunks)
        {
            trainTokens += c.TrainTokens;
            trainDocuments += c.TrainDocuments;
            validationTokens += c.ValidationTokens;
            validationDocuments += c.ValidationDocuments;
        }
        if (trainTokens != info.Train.Tokens || trainDocuments != info.Train.Documents || validationTokens != info.Validation.Tokens || validationDocuments != info.Validation.Documents)
            throw new InvalidDataException($"Token file header '{path}': its chunks add up to {trainTokens} training tokens in {trainDocuments} documents and {validationTokens} validation tokens in {validationDocuments} documents, not the splits' counts.");
    }

    private static T Required<T>(JsonObject json, string name, string path)
    {
        var node = json[name] ?? throw new InvalidDataException($"Token file header '{path}' has no '{name}' field.");
        return node.GetValue<T>();
    }
}
