using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>The MLNet.MoE entry point of an <see cref="MLContext"/>: <c>mlContext.MoE()</c>.</summary>
public sealed class MoeCatalog
{
    private readonly MLContext mlContext;
    private readonly IHostEnvironment env;

    internal MoeCatalog(MLContext mlContext)
    {
        this.mlContext = mlContext;
        env = mlContext;
        Trainers = new MoeTrainers(env);
    }

    /// <summary>The trainers.</summary>
    public MoeTrainers Trainers { get; }

    /// <summary>
    /// Aggregates the columns a <see cref="LanguageModelTransformer"/> adds (Score, TokenCount, TokenAccuracy) over all rows,
    /// weighting each row by its tokens. With <paramref name="textColumnName"/>, also bits per UTF-8 byte of that text.
    /// </summary>
    public LanguageModelMetrics Evaluate(IDataView scoredData, string? textColumnName = null,
        string scoreColumnName = LanguageModelTransformer.ScoreColumnName,
        string tokenCountColumnName = LanguageModelTransformer.TokenCountColumnName,
        string tokenAccuracyColumnName = LanguageModelTransformer.TokenAccuracyColumnName) =>
        LanguageModelEvaluation.Evaluate(scoredData, textColumnName, scoreColumnName, tokenCountColumnName, tokenAccuracyColumnName);

    /// <summary>
    /// A language-model transformer from a Hugging Face DeepseekV3 checkpoint folder (config.json + safetensors) and a
    /// tokenizer, ready for pipelines and <c>mlContext.Model.Save</c>. Without <paramref name="tokenizer"/>, the folder's
    /// own is used: <c>mlnet_moe_tokenizer.bin</c> (written by <see cref="SaveHuggingFace"/>) or <c>tokenizer.json</c>.
    /// </summary>
    /// <exception cref="FileNotFoundException">No tokenizer was given and the folder holds none.</exception>
    public LanguageModelTransformer LoadHuggingFace(string checkpointDirectory, MoeTokenizer? tokenizer = null, string tokenColumnName = "Tokens",
        string? promptColumnName = null, int? contextLength = null, GenerationOptions? generation = null, ComputeDevice device = ComputeDevice.Auto) =>
        HuggingFaceTransformerLoader.Load(env, checkpointDirectory, tokenizer, tokenColumnName, promptColumnName, contextLength, generation, device);

    /// <summary>
    /// Saves a model (any ML.NET transformer, MLNet.MoE's included) to a <c>.zip</c> like <c>mlContext.Model.Save</c>, but
    /// atomically: the zip is written to a temporary file beside <paramref name="path"/> and renamed over it only when
    /// complete, so an interrupted or failed save never leaves a partial file.
    /// </summary>
    public void SaveModel(ITransformer model, DataViewSchema inputSchema, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        AtomicFile.Write(path, stream => mlContext.Model.Save(model, inputSchema, stream));
    }

    /// <summary>
    /// Loads a model zip like <c>mlContext.Model.Load</c>, but reports a damaged or foreign file with the exception that
    /// explains it: ML.NET builds each saved transformer by reflection and wraps what its loader throws in a
    /// <see cref="System.Reflection.TargetInvocationException"/>, which is unwrapped here; a file that is not a zip at all
    /// is named. Throws <see cref="FileNotFoundException"/> for a missing file and <see cref="InvalidDataException"/> for
    /// a damaged one (a zip entry whose CRC-32 fails, weights or a tokenizer whose SHA-256 differs from the one recorded
    /// at save, a config out of range).
    /// </summary>
    public ITransformer LoadModel(string path, out DataViewSchema inputSchema) =>
        ModelZipLoader.Load(mlContext, path, out inputSchema);

    /// <summary>
    /// Exports a language model to ONNX in <paramref name="directory"/>: <c>model.onnx</c> (opset 23 + com.microsoft, ONNX
    /// Runtime GenAI's input/output layout; <c>model.onnx.data</c> beside it when the weights exceed 2 GB),
    /// <c>genai_config.json</c> and the tokenizer. The transformer's context length and generation options travel in the
    /// metadata, so the ONNX transformer scores and generates as this one does by default. Files are written atomically; on failure nothing
    /// new is left behind.
    /// </summary>
    public void ExportOnnx(LanguageModelTransformer model, string directory, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        OnnxExporter.Export(model.Model, model.Tokenizer, directory, options, model.ContextLength, model.Generation);
    }

    /// <summary>
    /// Exports a text classifier to ONNX in <paramref name="directory"/>: <c>model.onnx</c> (inputs <c>input_ids</c> and
    /// <c>attention_mask</c> [batch, tokens], right-padded; outputs <c>logits</c> and <c>probabilities</c> [batch, classes]),
    /// with the class names (and their type), pooling, maximum length, column names and the tokenizer's SHA-256 in its
    /// metadata, and the tokenizer. Rows are encoded as <see cref="TextClassificationTransformerBase.Encode(string, string?)"/>
    /// does. <c>mlContext.MoeOnnx().LoadTextClassifier</c> (package MLNet.MoE.Onnx) loads it as a transformer with the
    /// same columns. Files are written atomically. An ensemble (<c>EnsembleSize</c> above 1) is refused with
    /// <see cref="NotSupportedException"/>: the graph holds one classifier; so is a classifier with a wide branch of hashed
    /// n-grams (<c>NgramBuckets</c> above 0): the graph reads token ids only.
    /// </summary>
    public void ExportOnnx(MoeTextClassificationTransformer model, string directory, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        OnnxExporter.ExportClassifierTransformer(model, directory, options);
    }

    /// <summary>
    /// Writes a language model as a Hugging Face DeepseekV3 checkpoint folder (per-expert keys), loadable by
    /// <c>DeepseekV3ForCausalLM.from_pretrained</c>, with its tokenizer beside it (<c>mlnet_moe_tokenizer.bin</c>, plus
    /// <c>tokenizer.json</c> and <c>tokenizer_config.json</c> for byte-level and Hugging Face tokenizers) so that
    /// <see cref="LoadHuggingFace"/> needs no tokenizer argument and transformers' <c>AutoTokenizer</c> can read it.
    /// </summary>
    public void SaveHuggingFace(LanguageModelTransformer model, string checkpointDirectory, ScalarType storeAs = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(model);
        HuggingFaceCheckpoint.Save(model.Model, checkpointDirectory, storeAs);
        TokenizerFiles.Save(checkpointDirectory, model.Tokenizer, model.Model.Config.MaxPositionEmbeddings);
    }

    /// <summary>
    /// Exports the token-id column of <paramref name="data"/> as a token file folder for training engines outside .NET
    /// (format: docs/scale-out.md): <c>train.bin</c> and <c>validation.bin</c> hold the documents packed exactly as the
    /// language-model trainer packs them (each preceded by the end-of-text id; the same held-out rows for the same seed
    /// and fraction), <c>tokens.json</c> describes them, and the tokenizer is written beside them.
    /// </summary>
    /// <returns>The header that was written.</returns>
    public TokenFileInfo ExportTokens(IDataView data, string directory, TokenExportOptions? options = null) =>
        TokenExport.Export(env, data, directory, options ?? new TokenExportOptions());

    /// <summary>
    /// Reads back a token file folder written by <see cref="ExportTokens"/> (its header checked): the training stream, or
    /// with <paramref name="validation"/> the held-out one, each document preceded by the end-of-text id.
    /// </summary>
    /// <returns>The header and the stream's token ids.</returns>
    public (TokenFileInfo Info, int[] Tokens) ReadTokens(string directory, bool validation = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var info = TokenFile.ReadHeader(directory);
        return (info, TokenFile.ReadSplit(directory, info, validation));
    }
}
