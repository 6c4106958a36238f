using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>The MLNet.MoE ONNX entry point of an <see cref="MLContext"/>: <c>mlContext.MoeOnnx()</c>.</summary>
public sealed class MoeOnnxCatalog
{
    internal MoeOnnxCatalog(MLContext mlContext)
    {
        _ = mlContext;
    }

    /// <summary>
    /// Loads a language model exported by <c>mlContext.MoE().ExportOnnx</c> as a transformer scored by ONNX Runtime.
    /// <paramref name="path"/> is the export folder or its <c>model.onnx</c>; the tokenizer defaults to the one saved in
    /// the folder (<c>mlnet_moe_tokenizer.bin</c>). <paramref name="tokenColumnName"/> holds token ids (vector of Int32) or
    /// text. <paramref name="contextLength"/> and <paramref name="generation"/> default to what the model was trained with
    /// (recorded at export), so scores and generated text match the TorchSharp transformer's. Throws <see cref="InvalidDataException"/> for a file that is not ONNX, is
    /// truncated, or was not exported by MLNet.MoE.
    /// </summary>
    public OnnxLanguageModelTransformer LoadLanguageModel(string path, MoeTokenizer? tokenizer = null, string tokenColumnName = "Tokens",
        string? promptColumnName = null, int? contextLength = null, GenerationOptions? generation = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string modelPath = Directory.Exists(path) ? Path.Combine(path, OnnxMetadataKeys.ModelFileName) : path;
        string folder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        string tokenizerPath = Path.Combine(folder, OnnxMetadataKeys.TokenizerFileName);
        byte[]? tokenizerBytes = null;
        if (tokenizer == null)
        {
            if (!File.Exists(tokenizerPath))
                throw new FileNotFoundException($"No tokenizer was given and '{tokenizerPath}' does not exist: pass the model's tokenizer.", tokenizerPath);
            tokenizerBytes = File.ReadAllBytes(tokenizerPath);
        }
        var decoder = OnnxDecoder.FromFile(modelPath);
        try
        {
            if (tokenizerBytes != null)
            {
                if (decoder.TokenizerSha256 != null && !string.Equals(decoder.TokenizerSha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(tokenizerBytes)), StringComparison.OrdinalIgnoreCase))
                    throw new InvalidDataException($"'{tokenizerPath}' is not the tokenizer this model was exported with (its SHA-256 differs from '{OnnxMetadataKeys.TokenizerSha256}' in the model's metadata): the file was replaced or damaged.");
                tokenizer = MoeTokenizer.Deserialize(tokenizerBytes);
            }
            return new OnnxLanguageModelTransformer(decoder, tokenizer!, tokenColumnName, promptColumnName, contextLength, generation ?? decoder.Generation ?? new GenerationOptions());
        }
        catch
        {
            decoder.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Aggregates the columns a language model adds (Score, TokenCount, TokenAccuracy) over all rows, weighting each row
    /// by its tokens. With <paramref name="textColumnName"/>, also bits per UTF-8 byte of that text. The same metrics as
    /// <c>mlContext.MoE().Evaluate</c>, without TorchSharp.
    /// </summary>
    public LanguageModelMetrics Evaluate(IDataView scoredData, string? textColumnName = null,
        string scoreColumnName = LanguageModelTransformerBase.ScoreColumnName,
        string tokenCountColumnName = LanguageModelTransformerBase.TokenCountColumnName,
        string tokenAccuracyColumnName = LanguageModelTransformerBase.TokenAccuracyColumnName) =>
        LanguageModelEvaluation.Evaluate(scoredData, textColumnName, scoreColumnName, tokenCountColumnName, tokenAccuracyColumnName);
}
