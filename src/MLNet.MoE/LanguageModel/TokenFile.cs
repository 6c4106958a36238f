using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNet.MoE;

/// <summary>
/// A tokenized corpus as flat binary files of token ids plus a small JSON header, for training engines outside .NET
/// (a PyTorch script reads it with <c>numpy.memmap</c>). A folder holds <c>train.bin</c> and <c>validation.bin</c>
/// (the packed streams of <see cref="TokenCorpus"/>: every document preceded by the end-of-text id, ids little-endian
/// <c>uint16</c> or <c>uint32</c>) and <c>tokens.json</c>, the header, written last: a reader that finds the header
/// finds complete data files. No library reads or writes such a pair of files, so this class does, in a few lines.
/// </summary>
internal static class TokenFile
{
    /// <summary>The header's file name.</summary>
    public const string HeaderFileName = "tokens.json";

    /// <summary>The value of the header's <c>format</c> field.</summary>
    public const string FormatName = "mlnet-moe-tokens";

    /// <summary>The header version this library writes and reads.</summary>
    public const int CurrentVersion = 1;

    private const string TrainFileName = "train.bin";
    private const string ValidationFileName = "validation.bin";

    /// <summary>
    /// Writes <paramref name="corpus"/> to <paramref name="directory"/> (created when missing). Every file is written
    /// atomically and the header last; on failure no header is written.
    /// </summary>
    /// <param name="directory">The output folder.</param>
    /// <param name="corpus">The packed streams.</param>
    /// <param name="vocabSize">The tokenizer's vocabulary size; every id must be below it.</param>
    /// <param name="endOfTextId">The id separating documents.</param>
    /// <param name="tokenizerName">The tokenizer's name, for the header.</param>
    /// <param name="validationFraction">The held-out fraction the corpus was packed with.</param>
    /// <param name="seed">The seed the corpus was packed with.</param>
    /// <param name="sourceColumn">The token column the documents came from.</param>
    public static TokenFileInfo Write(string directory, TokenCorpus corpus, int vocabSize, int endOfTextId, string tokenizerName,
        double validationFraction, int seed, string sourceColumn)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(corpus);
        if (vocabSize < 1) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "vocabSize must be positive.");
        if ((uint)endOfTextId >= (uint)vocabSize) throw new ArgumentOutOfRangeException(nameof(endOfTextId), endOfTextId, $"The end-of-text id must be below vocabSize ({vocabSize}).");
        string full = Path.GetFullPath(directory);
        Directory.CreateDirectory(full);
        var info = new TokenFileInfo
        {
            Format = FormatName,
            Version = CurrentVersion,
            DType = vocabSize <= ushort.MaxValue + 1 ? "uint16" : "uint32",
            VocabSize = vocabSize,
            EndOfTextId = endOfTextId,
            Tokenizer = tokenizerName,
            Train = new TokenFileSplit(TrainFileName, corpus.Training.Length, corpus.TrainingDocuments),
            Validation = new TokenFileSplit(ValidationFileName, corpus.Validation.Length, corpus.ValidationDocuments),
            ValidationFraction = validationFraction,
            Seed = seed,
            SourceColumn = sourceColumn,
        };
        // Remove an older header first, so a folder being rewritten is never seen with a header that does not match its data.
        File.Delete(Path.Combine(full, HeaderFileName));
        WriteIds(Path.Combine(full, TrainFileName), corpus.Training, info);
        WriteIds(Path.Combine(full, ValidationFileName), corpus.Validation, info);
        AtomicFile.WriteAllText(Path.Combine(full, HeaderFileName), ToJson(info));
        return info;
    }

    /// <summary>Reads and checks the header of the token file folder <paramref name="directory"/>.</summary>
    /// <exception cref="FileNotFoundException">The folder has no <c>tokens.json</c>.</exception>
    /// <exception cref="InvalidDataException">The header is not one this library wrote or is inconsistent; the message names the field.</exception>
    public static TokenFileInfo ReadHeader(string directory)
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
            string format = Required<string>(json, "format");
            if (format != FormatName) throw new InvalidDataException($"Token file header '{path}': field 'format' is '{format}', not '{FormatName}'.");
            int version = Required<int>(json, "version");
            if (version != CurrentVersion) throw new InvalidDataException($"Token file header '{path}': version {version} is not supported (this library reads version {CurrentVersion}).");
            string dtype = Required<string>(json, "dtype");
            if (dtype is not ("uint16" or "uint32")) throw new InvalidDataException($"Token file header '{path}': field 'dtype' is '{dtype}', not uint16 or uint32.");
            var splits = json["splits"] as JsonObject ?? throw new InvalidDataException($"Token file header '{path}' has no 'splits' object.");
            TokenFileSplit Split(string name)
            {
                var split = splits[name] as JsonObject ?? throw new InvalidDataException($"Token file header '{path}' has no split '{name}'.");
                string file = Required<string>(split, "file");
                if (file.Length == 0 || Path.GetFileName(file) != file) throw new InvalidDataException($"Token file header '{path}': split '{name}' names '{file}', which is not a file name in the folder.");
                long tokens = Required<long>(split, "tokens");
                int documents = Required<int>(split, "documents");
                if (tokens < 0 || documents < 0) throw new InvalidDataException($"Token file header '{path}': split '{name}' has negative counts.");
                return new TokenFileSplit(file, tokens, documents);
            }
            var info = new TokenFileInfo
            {
                Format = format,
                Version = version,
                DType = dtype,
                VocabSize = Required<int>(json, "vocab_size"),
                EndOfTextId = Required<int>(json, "eos_token_id"),
                Tokenizer = Required<string>(json, "tokenizer"),
                Train = Split("train"),
                Validation = Split("validation"),
                ValidationFraction = Required<double>(json, "validation_fraction"),
                Seed = Required<int>(json, "seed"),
                SourceColumn = Required<string>(json, "source_column"),
            };
            if (info.VocabSize < 1 || (uint)info.EndOfTextId >= (uint)info.VocabSize)
                throw new InvalidDataException($"Token file header '{path}': eos_token_id {info.EndOfTextId} is not below vocab_size {info.VocabSize}.");
            return info;
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"Token file header '{path}' has a field of the wrong type: {MLNet.MoE.MessageText.Printable(e.Message)}", e);
        }
    }

    /// <summary>Reads the training (or, with <paramref name="validation"/>, the validation) stream of the folder, checking its length and ids against the header.</summary>
    /// <exception cref="InvalidDataException">The file's length disagrees with the header, or an id is not below vocab_size; the message names the file.</exception>
    public static int[] ReadSplit(string directory, TokenFileInfo info, bool validation = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(info);
        var split = validation ? info.Validation : info.Train;
        string path = Path.Combine(Path.GetFullPath(directory), split.File);
        if (!File.Exists(path)) throw new FileNotFoundException($"Token file '{path}' named by {HeaderFileName} is missing.", path);
        long expected = split.Tokens * info.BytesPerToken;
        long length = new FileInfo(path).Length;
        if (length != expected) throw new InvalidDataException($"Token file '{path}' holds {length} bytes; the header promises {split.Tokens} {info.DType} ids ({expected} bytes).");
        if (split.Tokens > Array.MaxLength) throw new InvalidDataException($"Token file '{path}' holds {split.Tokens} ids, more than one array can hold; read it in parts with a memory map.");
        byte[] bytes = File.ReadAllBytes(path);
        var ids = new int[split.Tokens];
        for (int i = 0; i < ids.Length; i++)
        {
            int id = info.BytesPerToken == 2
                ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i))
                : checked((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4 * i)));
            if (id >= info.VocabSize) throw new InvalidDataException($"Token file '{path}': id {id} at position {i} is not below vocab_size {info.VocabSize}.");
            ids[i] = id;
        }
        return ids;
    }

    private static void WriteIds(string path, int[] ids, TokenFileInfo info)
    {
        AtomicFile.Write(path, stream =>
        {
            const int chunk = 1 << 16;
            var buffer = new byte[chunk * info.BytesPerToken];
            for (int start = 0; start < ids.Length; start += chunk)
            {
                int count = Math.Min(chunk, ids.Length - start);
                for (int i = 0; i < count; i++)
                {
                    int id = ids[start + i];
                    if ((uint)id >= (uint)info.VocabSize)
                        throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} at position {start + i} of {Path.GetFileName(path)} is not below the vocabulary size {info.VocabSize}.");
                    if (info.BytesPerToken == 2) BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(2 * i), (ushort)id);
                    else BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4 * i), (uint)id);
                }
                stream.Write(buffer, 0, count * info.BytesPerToken);
            }
        });
    }

    private static string ToJson(TokenFileInfo info)
    {
        static JsonObject Split(TokenFileSplit s) => new() { ["file"] = s.File, ["tokens"] = s.Tokens, ["documents"] = s.Documents };
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
            ["splits"] = new JsonObject { ["train"] = Split(info.Train), ["validation"] = Split(info.Validation) },
            ["validation_fraction"] = info.ValidationFraction,
            ["seed"] = info.Seed,
            ["source_column"] = info.SourceColumn,
        };
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static T Required<T>(JsonObject json, string name)
    {
        var node = json[name] ?? throw new InvalidDataException($"Token file header has no '{name}' field.");
        return node.GetValue<T>();
    }
}
