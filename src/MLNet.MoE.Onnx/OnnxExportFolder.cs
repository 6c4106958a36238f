using System.Security.Cryptography;

namespace MLNet.MoE;

/// <summary>
/// The files of an export folder a loader reads: <c>model.onnx</c> (the folder or the model file may be given) and, when
/// no tokenizer is passed, <c>mlnet_moe_tokenizer.bin</c> beside it, checked against the SHA-256 the export recorded.
/// </summary>
internal sealed class OnnxExportFolder
{
    private readonly MoeTokenizer? given;
    private readonly byte[]? tokenizerBytes;

    private OnnxExportFolder(string modelPath, string tokenizerPath, MoeTokenizer? given, byte[]? tokenizerBytes)
    {
        ModelPath = modelPath;
        TokenizerPath = tokenizerPath;
        this.given = given;
        this.tokenizerBytes = tokenizerBytes;
    }

    /// <summary>The model file.</summary>
    public string ModelPath { get; }

    /// <summary>The tokenizer file beside it.</summary>
    public string TokenizerPath { get; }

    /// <summary>
    /// Resolves <paramref name="path"/> (the folder or its <c>model.onnx</c>) and, without <paramref name="tokenizer"/>,
    /// reads the folder's tokenizer file (<see cref="FileNotFoundException"/> when there is none).
    /// </summary>
    public static OnnxExportFolder Open(string path, MoeTokenizer? tokenizer)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string modelPath = Directory.Exists(path) ? Path.Combine(path, OnnxMetadataKeys.ModelFileName) : path;
        string folder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        string tokenizerPath = Path.Combine(folder, OnnxMetadataKeys.TokenizerFileName);
        if (tokenizer != null) return new OnnxExportFolder(modelPath, tokenizerPath, tokenizer, null);
        if (!File.Exists(tokenizerPath))
            throw new FileNotFoundException($"No tokenizer was given and '{tokenizerPath}' does not exist: pass the model's tokenizer.", tokenizerPath);
        return new OnnxExportFolder(modelPath, tokenizerPath, null, File.ReadAllBytes(tokenizerPath));
    }

    /// <summary>
    /// The tokenizer given, or the folder's, whose SHA-256 must equal <paramref name="recordedSha256"/> (the model's
    /// <c>mlnet_moe.tokenizer_sha256</c>; older exports have none): <see cref="InvalidDataException"/> naming the file otherwise.
    /// </summary>
    public MoeTokenizer Tokenizer(string? recordedSha256)
    {
        if (given != null) return given;
        if (recordedSha256 != null && !string.Equals(recordedSha256, Convert.ToHexStringLower(SHA256.HashData(tokenizerBytes!)), StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"'{TokenizerPath}' is not the tokenizer this model was exported with (its SHA-256 differs from '{OnnxMetadataKeys.TokenizerSha256}' in the model's metadata): the file was replaced or damaged.");
        try
        {
            return MoeTokenizer.Deserialize(tokenizerBytes!);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"'{TokenizerPath}' is not a valid MLNet.MoE tokenizer file: {MessageText.Printable(e.Message)}", e);
        }
    }
}
