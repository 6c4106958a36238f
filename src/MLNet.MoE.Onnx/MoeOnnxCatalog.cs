using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>The MLNet.MoE ONNX entry point of an <see cref="MLContext"/>: <c>mlContext.MoeOnnx()</c> (language models and text classifiers exported to ONNX).</summary>
public sealed class MoeOnnxCatalog
{
    private const string DefaultPredictedLabelColumnName = "PredictedLabel";
    private const string DefaultScoreColumnName = "Score";

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
        var folder = OnnxExportFolder.Open(path, tokenizer);
        var decoder = OnnxDecoder.FromFile(folder.ModelPath);
        try
        {
            return new OnnxLanguageModelTransformer(decoder, folder.Tokenizer(decoder.TokenizerSha256), tokenColumnName, promptColumnName, contextLength, generation ?? decoder.Generation ?? new GenerationOptions());
        }
        catch
        {
            decoder.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads a text classifier exported by <c>mlContext.MoE().ExportOnnx</c> as a transformer scored by ONNX Runtime, with
    /// the columns of the TorchSharp <c>MoeTextClassificationTransformer</c> it was exported from: <c>PredictedLabel</c> (a
    /// key carrying the label's key values) and <c>Score</c> (class probabilities), so
    /// <c>MulticlassClassification.Evaluate</c> and <c>PredictionEngine</c> work the same. <paramref name="path"/> is the
    /// export folder or its <c>model.onnx</c>; the tokenizer defaults to the one saved in the folder
    /// (<c>mlnet_moe_tokenizer.bin</c>, checked against the SHA-256 in the model's metadata). The column names default to
    /// those the exported transformer used (recorded at export); a classifier of text pairs reads two text columns. Throws
    /// <see cref="InvalidDataException"/> for a file that is not ONNX, is truncated or altered, was not exported by
    /// MLNet.MoE, or is a language model.
    /// </summary>
    /// <param name="path">The export folder or its <c>model.onnx</c>.</param>
    /// <param name="tokenizer">The model's tokenizer; default: the folder's <c>mlnet_moe_tokenizer.bin</c>.</param>
    /// <param name="textColumnName">The text column; default: the one recorded at export (needed for exports that did not record it).</param>
    /// <param name="secondTextColumnName">The second text column of a classifier of text pairs; default: the one recorded at export.</param>
    /// <param name="predictedLabelColumnName">The predicted-label column added; default: the one recorded at export, else <c>PredictedLabel</c>.</param>
    /// <param name="scoreColumnName">The class-probability column added; default: the one recorded at export, else <c>Score</c>.</param>
    public OnnxTextClassificationTransformer LoadTextClassifier(string path, MoeTokenizer? tokenizer = null, string? textColumnName = null,
        string? secondTextColumnName = null, string? predictedLabelColumnName = null, string? scoreColumnName = null)
    {
        var folder = OnnxExportFolder.Open(path, tokenizer);
        var classifier = OnnxClassifier.FromFile(folder.ModelPath);
        try
        {
            string text = textColumnName ?? classifier.TextColumnName ?? throw new ArgumentNullException(nameof(textColumnName),
                $"'{folder.ModelPath}' does not record the text column it reads (it was exported by an earlier version): pass textColumnName, and secondTextColumnName for a classifier of text pairs.");
            string? second = secondTextColumnName ?? classifier.SecondTextColumnName;
            if (classifier.TextColumnName != null)
            {
                if (second != null && classifier.SecondTextColumnName == null)
                    throw new ArgumentException($"'{folder.ModelPath}' was trained on one text column ('{classifier.TextColumnName}'), not on text pairs: leave secondTextColumnName null.", nameof(secondTextColumnName));
            }
            var settings = new TextClassificationSettings(text, second,
                predictedLabelColumnName ?? classifier.PredictedLabelColumnName ?? DefaultPredictedLabelColumnName,
                scoreColumnName ?? classifier.ScoreColumnName ?? DefaultScoreColumnName, classifier.MaxLength, classifier.ClassCount);
            return new OnnxTextClassificationTransformer(classifier, folder.Tokenizer(classifier.TokenizerSha256), settings, classifier.KeyValues);
        }
        catch
        {
            classifier.Dispose();
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
