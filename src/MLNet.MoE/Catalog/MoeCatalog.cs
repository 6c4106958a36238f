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
    /// <para>The weights are streamed tensor by tensor from the files into a model created on the chosen device in
    /// <paramref name="weightType"/>: without it, float32 on the CPU and the checkpoint's stored type (bfloat16 for
    /// DeepSeek-V3-class releases) on a GPU, where scoring and generation then compute in that type. No float32 copy of
    /// a bfloat16 checkpoint exists in host memory at any time.</para>
    /// </summary>
    /// <exception cref="FileNotFoundException">No tokenizer was given and the folder holds none.</exception>
    public LanguageModelTransformer LoadHuggingFace(string checkpointDirectory, MoeTokenizer? tokenizer = null, string tokenColumnName = "Tokens",
        string? promptColumnName = null, int? contextLength = null, GenerationOptions? generation = null, ComputeDevice device = ComputeDevice.Auto,
        ModelWeightType? weightType = null) =>
        HuggingFaceTransformerLoader.Load(env, checkpointDirectory, tokenizer, tokenColumnName, promptColumnName, contextLength, generation, device, weightType);

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
        if (model.Adapters is { } adapters)
        {
            // A LoRA-tuned model exports as its merged weights: ONNX Runtime runs one plain decoder.
            // float32 on the CPU, where the exporter builds the graph from the weights.
            using var merged = MergedCopy(model.Model, adapters, TensorPlacement.Cpu);
            OnnxExporter.Export(merged, model.Tokenizer, directory, options, model.ContextLength, model.Generation);
            return;
        }
        OnnxExporter.Export(model.Model, model.Tokenizer, directory, options, model.ContextLength, model.Generation);
    }

    /// <summary>
    /// Writes the LoRA adapters of a fine-tuned language model in PEFT's format (<c>adapter_config.json</c> and
    /// <c>adapter_model.safetensors</c>, PEFT's key names, float32), so transformers + PEFT load them with
    /// <c>PeftModel.from_pretrained(base, directory)</c> onto the same base checkpoint. Routers and norms trained in full
    /// (<see cref="LoraOptions.TrainRouter"/>, <see cref="LoraOptions.TrainNorms"/>) are written as PEFT's
    /// <c>modules_to_save</c>. The file also records the SHA-256 of the base weights, which <see cref="LoadLoraAdapters"/>
    /// checks. Each file is written atomically.
    /// </summary>
    /// <exception cref="ArgumentException">The model carries no adapters (it was not trained with <see cref="LanguageModelOptions.Lora"/>).</exception>
    /// <exception cref="NotSupportedException">The adapters include dense or shared-expert MLP projections, which PEFT maps onto the routed experts (save the merged checkpoint with <see cref="SaveHuggingFace"/>).</exception>
    public void SaveLoraAdapters(LanguageModelTransformer model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        var adapters = model.Adapters ?? throw new ArgumentException("The language model carries no LoRA adapters: train it with LanguageModelOptions.Lora.", nameof(model));
        PeftAdapterFiles.Save(adapters, model.Model.Config, directory);
    }

    /// <summary>
    /// A language-model transformer of <paramref name="baseModel"/>'s weights (shared, not copied, and left unchanged)
    /// plus the LoRA adapters in <paramref name="directory"/> (PEFT's format: written by <see cref="SaveLoraAdapters"/>
    /// or by PEFT's <c>save_pretrained</c>). Adapters that record their base's SHA-256 are refused on other base weights.
    /// The new transformer does not dispose the base; dispose it after the base's last use.
    /// </summary>
    /// <remarks>PEFT's <c>modules_to_save</c> are applied when they name routers (<c>mlp.gate</c>) and RMSNorms: their saved weights are used in place of the base's; any other module is refused by name, and a router's saved selection bias must equal the base's.</remarks>
    /// <exception cref="InvalidDataException">The adapters do not fit the base (missing or misshapen factors, unknown modules, another base's digest) or use PEFT features this library does not apply (DoRA, rsLoRA, per-module ranks, biases, <c>modules_to_save</c> other than routers and norms).</exception>
    public LanguageModelTransformer LoadLoraAdapters(LanguageModelTransformer baseModel, string directory)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        if (baseModel.Adapters != null)
            throw new ArgumentException("The base model already carries LoRA adapters: merge them first (MergeLoraAdapters).", nameof(baseModel));
        var adapters = PeftAdapterFiles.Load(baseModel.Model, directory);
        return new LanguageModelTransformer(baseModel.Model, ownsBase: false, adapters, baseModel.Tokenizer, baseModel.TokenColumnName,
            baseModel.PromptColumnName, baseModel.ContextLength, baseModel.Generation, null);
    }

    /// <summary>
    /// A new language-model transformer whose weights are <paramref name="model"/>'s base weights with its LoRA adapters
    /// merged in (W + α/r·B·A, computed in float32 a tensor at a time and stored on the base's device in its type) and its fully trained routers and
    /// norms copied over the base's: a plain model to save, export or fine-tune further. The adapted transformer is left
    /// as it was.
    /// </summary>
    /// <exception cref="ArgumentException">The model carries no adapters.</exception>
    public LanguageModelTransformer MergeLoraAdapters(LanguageModelTransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var adapters = model.Adapters ?? throw new ArgumentException("The language model carries no LoRA adapters to merge.", nameof(model));
        var merged = MergedCopy(model.Model, adapters);
        return new LanguageModelTransformer(merged, model.Tokenizer, model.TokenColumnName, model.PromptColumnName, model.ContextLength, model.Generation, model.TrainingSummary);
    }

    /// <summary>
    /// A copy of the base with the adapters merged in, placed as <paramref name="placement"/> says (default: where the
    /// base lives, in its type, so a bfloat16 model on a GPU needs no float32 host copy); W + α/r·B·A is computed in
    /// float32 one tensor at a time.
    /// </summary>
    private static MoeCausalLM MergedCopy(MoeCausalLM baseModel, LoraAdapters adapters, TensorPlacement? placement = null)
    {
        var copy = baseModel.Copy(placement ?? new TensorPlacement(baseModel.Device, baseModel.WeightType));
        adapters.MergeInto(copy);
        return copy;
    }

    /// <summary>
    /// Exports a text classifier to ONNX in <paramref name="directory"/>: <c>model.onnx</c> (inputs <c>input_ids</c> and
    /// <c>attention_mask</c> [batch, tokens], right-padded, and for a classifier with the wide branch of hashed n-grams
    /// (<c>NgramBuckets</c> above 0, the default) <c>ngram_ids</c> and <c>ngram_weights</c> [batch, n-grams], each row's
    /// bucket ids and 1/√(its n-grams), right-padded with 0; outputs <c>logits</c> and <c>probabilities</c> [batch, classes]),
    /// with the class names (and their type), pooling, maximum length, column names, the tokenizer's SHA-256 and the
    /// n-gram buckets and hash version in its metadata, and the tokenizer. Rows are encoded as
    /// <see cref="TextClassificationTransformerBase.Encode(string, string?)"/> does.
    /// <c>mlContext.MoeOnnx().LoadTextClassifier</c> (package MLNet.MoE.Onnx) loads it as a transformer with the same
    /// columns, which hashes the n-grams itself. Files are written atomically. An ensemble (<c>EnsembleSize</c> above 1) is
    /// refused with <see cref="NotSupportedException"/>: the graph holds one classifier.
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
    /// The weights are stored in <paramref name="weightType"/>, by default the model's own type (float32 for a model
    /// trained here, bfloat16 for a bfloat16 checkpoint loaded on a GPU); bfloat16 and float16 halve the files. A
    /// LoRA-tuned model is written with its adapters merged into the weights (<see cref="SaveLoraAdapters"/> writes the
    /// adapters alone).
    /// </summary>
    public void SaveHuggingFace(LanguageModelTransformer model, string checkpointDirectory, ModelWeightType? weightType = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var storeAs = (weightType ?? ModelWeightTypes.FromScalarType(model.Model.WeightType)).ToScalarType();
        if (model.Adapters is { } adapters)
        {
            using var merged = MergedCopy(model.Model, adapters);
            HuggingFaceCheckpoint.Save(merged, checkpointDirectory, storeAs);
        }
        else
        {
            HuggingFaceCheckpoint.Save(model.Model, checkpointDirectory, storeAs);
        }
        TokenizerFiles.Save(checkpointDirectory, model.Tokenizer, model.Model.Config.MaxPositionEmbeddings);
    }

    /// <summary>
    /// Writes a token store in <paramref name="directory"/> (format: docs/token-store.md): the documents of a token-id
    /// column, or of a text column tokenized on several threads (<see cref="TokenExportOptions.TextColumnName"/>), packed
    /// as the language-model trainer packs them (each preceded by the end-of-text id; the same held-out documents for the
    /// same seed and fraction) into <c>train.bin</c> and <c>validation.bin</c>, with document indexes, a header
    /// (<c>tokens.json</c>, written last) and the tokenizer. Rows stream through with bounded memory; progress goes to the
    /// MLContext's log and <see cref="TokenExportOptions.Progress"/>; a killed export resumes where it stopped when run
    /// again. The files are what <see cref="LoadTokens"/> maps for training and what a PyTorch script reads with
    /// <c>numpy.memmap</c>.
    /// </summary>
    /// <returns>The header that was written.</returns>
    public TokenFileInfo ExportTokens(IDataView data, string directory, TokenExportOptions? options = null) =>
        TokenExport.Export(env, data, directory, options ?? new TokenExportOptions());

    /// <summary>
    /// Opens a token store written by <see cref="ExportTokens"/> for training: pass it to the language-model trainer's
    /// <c>Fit</c>, which samples windows from its memory map and validates on its validation split. Its header, file
    /// lengths and (with <paramref name="verifyChecksums"/>, one read of the whole store) every chunk's checksum are
    /// checked first. Dispose it after training.
    /// </summary>
    /// <param name="directory">The store's folder.</param>
    /// <param name="tokenColumnName">The name of the token-id column the store shows as an IDataView (the trainer's TokenColumnName). Default "Tokens".</param>
    /// <param name="verifyChecksums">Whether to verify every chunk's checksum. Default true.</param>
    /// <exception cref="InvalidDataException">A file is damaged; the message names it.</exception>
    public TokenStore LoadTokens(string directory, string tokenColumnName = "Tokens", bool verifyChecksums = true) =>
        TokenStore.Open(directory, tokenColumnName, verifyChecksums);

    /// <summary>
    /// Reads a split of a token file folder written by <see cref="ExportTokens"/> into memory (its header checked): the
    /// training stream, or with <paramref name="validation"/> the held-out one, each document preceded by the end-of-text
    /// id. A split longer than an array holds is refused: map it with <see cref="LoadTokens"/> instead.
    /// </summary>
    /// <returns>The header and the stream's token ids.</returns>
    public (TokenFileInfo Info, int[] Tokens) ReadTokens(string directory, bool validation = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var info = TokenFile.ReadHeader(directory);
        return (info, TokenFile.ReadSplit(directory, info, validation));
    }
}
