
namespace MLNet.MoE;

/// <summary>
/// The tokenizer that travels with a checkpoint folder, so that a model moved out to another training engine and back
/// keeps its token ids: <c>mlnet_moe_tokenizer.bin</c> (the <see cref="MoeTokenizer"/>'s own serialized form, any kind),
/// plus Hugging Face's <c>tokenizer.json</c> and <c>tokenizer_config.json</c> for the tokenizers that have an exact
/// Hugging Face form (byte-level, and those read from a <c>tokenizer.json</c>), which <c>AutoTokenizer</c> loads.
/// </summary>
internal static class CheckpointTokenizer
{
    /// <summary>The file holding the serialized <see cref="MoeTokenizer"/>.</summary>
    public const string FileName = OnnxMetadataKeys.TokenizerFileName;

    /// <summary>The Hugging Face tokenizer file name.</summary>
    public const string HuggingFaceFileName = OnnxMetadataKeys.HuggingFaceTokenizerFileName;

    /// <summary>The Hugging Face tokenizer settings file name.</summary>
    public const string HuggingFaceConfigFileName = OnnxMetadataKeys.HuggingFaceTokenizerConfigFileName;

    /// <summary>Writes <paramref name="tokenizer"/> into <paramref name="directory"/>, each file atomically.</summary>
    /// <param name="directory">The folder.</param>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="modelMaxLength">The longest sequence of the model, for <c>tokenizer_config.json</c>.</param>
    public static void Save(string directory, MoeTokenizer tokenizer, int modelMaxLength)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(tokenizer);
        byte[] serialized = tokenizer.Serialize();
        AtomicFile.Write(Path.Combine(directory, FileName), s => s.Write(serialized));
        if (tokenizer.HuggingFaceFiles(modelMaxLength) is var (json, config))
        {
            AtomicFile.Write(Path.Combine(directory, HuggingFaceFileName), s => s.Write(json));
            AtomicFile.Write(Path.Combine(directory, HuggingFaceConfigFileName), s => s.Write(config));
        }
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
                throw new InvalidDataException($"Tokenizer file '{serialized}' cannot be read: {MLNet.MoE.MessageText.Printable(e.Message)}", e);
            }
        }
        string json = Path.Combine(directory, HuggingFaceFileName);
        return File.Exists(json) ? MoeTokenizer.FromHuggingFaceJson(json) : null;
    }
}
