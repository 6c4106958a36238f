
namespace MLNet.MoE;

/// <summary>
/// The tokenizer files written beside a model (a Hugging Face checkpoint folder, an ONNX export, a token file folder), so
/// that a model moved out to another engine and back keeps its token ids: <c>mlnet_moe_tokenizer.bin</c> (the <see cref="MoeTokenizer"/>'s own serialized form, any kind),
/// plus Hugging Face's <c>tokenizer.json</c> and <c>tokenizer_config.json</c> for the tokenizers that have an exact
/// Hugging Face form (byte-level, and those read from a <c>tokenizer.json</c>), which <c>AutoTokenizer</c> loads.
/// </summary>
internal static class TokenizerFiles
{
    /// <summary>The file holding the serialized <see cref="MoeTokenizer"/>.</summary>
    public const string FileName = OnnxMetadataKeys.TokenizerFileName;

    /// <summary>The Hugging Face tokenizer file name.</summary>
    public const string HuggingFaceFileName = OnnxMetadataKeys.HuggingFaceTokenizerFileName;

    /// <summary>The Hugging Face tokenizer settings file name.</summary>
    public const string HuggingFaceConfigFileName = OnnxMetadataKeys.HuggingFaceTokenizerConfigFileName;

    /// <summary>The files for <paramref name="tokenizer"/>: its serialized form, and the Hugging Face pair when it has one.</summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="modelMaxLength">The longest sequence of the model, for <c>tokenizer_config.json</c>.</param>
    public static IReadOnlyList<(string Name, byte[] Bytes)> For(MoeTokenizer tokenizer, int modelMaxLength)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var files = new List<(string, byte[])> { (FileName, tokenizer.Serialize()) };
        if (tokenizer.HuggingFaceFiles(modelMaxLength) is var (json, config))
        {
            files.Add((HuggingFaceFileName, json));
            files.Add((HuggingFaceConfigFileName, config));
        }
        return files;
    }

    /// <summary>Writes <paramref name="tokenizer"/>'s files into <paramref name="directory"/>, each atomically.</summary>
    public static void Save(string directory, MoeTokenizer tokenizer, int modelMaxLength)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        foreach (var (name, bytes) in For(tokenizer, modelMaxLength)) AtomicFile.Write(Path.Combine(directory, name), s => s.Write(bytes));
    }

    /// <summary>
    /// The tokenizer stored in <paramref name="directory"/>: <c>mlnet_moe_tokenizer.bin</c> when present, else
    /// <c>tokenizer.json</c>; null when the folder has neither.
    /// </summary>
    /// <exception cref="InvalidDataException">A tokenizer file exists but cannot be read; the message names it.</exception>
    public static MoeTokenizer? TryLoad(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string serialized = Path.Combine(directory, FileName);
        if (File.Exists(serialized))
        {
            try
            {
                return MoeTokenizer.Deserialize(File.ReadAllBytes(serialized));
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"Tokenizer file '{serialized}' cannot be read: {MessageText.Printable(e.Message)}", e);
            }
        }
        string json = Path.Combine(directory, HuggingFaceFileName);
        return File.Exists(json) ? MoeTokenizer.FromHuggingFaceJson(json) : null;
    }
}
