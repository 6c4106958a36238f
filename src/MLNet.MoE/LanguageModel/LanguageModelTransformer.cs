using System.Security.Cryptography;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNet.MoE;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(LanguageModelTransformer), null, typeof(SignatureLoadModel), "MoE Language Model", LanguageModelTransformer.LoaderSignature)]

namespace MLNet.MoE;

/// <summary>
/// A trained (or imported) Mixture-of-Experts language model in an ML.NET pipeline, run by TorchSharp on the CPU or a
/// CUDA device. Its columns, scoring and generation are those of <see cref="LanguageModelTransformerBase"/>, the same
/// as the ONNX Runtime transformer's. Saved in the model zip with its config, weights and tokenizer; a LoRA-tuned model
/// saves its base's weights and, beside them, its adapters with the base's SHA-256 (checked when the zip is loaded).
/// </summary>
public sealed class LanguageModelTransformer : LanguageModelTransformerBase
{
    internal const string LoaderSignature = "MLNetMoELanguageModel";
    private const string ModelSignature = "MOELANGM";
    // 0x00010002: the header records the SHA-256 of the tokenizer and config entries, checked at load.
    // 0x00010003: an optional LoRA adapters entry beside the (base) weights.
    private const uint Version = 0x00010003;
    private const uint VersionWithDigests = 0x00010002;
    private const uint VersionWithoutTokenizerDigest = 0x00010001;
    private const string ConfigStream = "Config.json";
    private const string WeightsStream = "Weights.bin";
    private const string TokenizerStream = "Tokenizer.bin";
    private const string AdaptersStream = "LoraAdapters.bin";

    internal LanguageModelTransformer(MoeCausalLM model, MoeTokenizer tokenizer, string tokenColumnName,
        string? promptColumnName, int contextLength, GenerationOptions generation, LanguageModelTrainingSummary? summary)
        : this(new TorchLanguageModelRunner(model, ownsModel: true), tokenizer, tokenColumnName, promptColumnName, contextLength, generation, summary)
    {
    }

    /// <summary>
    /// A transformer over a frozen <paramref name="baseModel"/> plus LoRA <paramref name="adapters"/>, which it owns;
    /// it owns the base only when <paramref name="ownsBase"/> (a base shared with the transformer it came from is not).
    /// </summary>
    internal LanguageModelTransformer(MoeCausalLM baseModel, bool ownsBase, LoraAdapters adapters, MoeTokenizer tokenizer, string tokenColumnName,
        string? promptColumnName, int contextLength, GenerationOptions generation, LanguageModelTrainingSummary? summary)
        : this(new TorchLanguageModelRunner(baseModel, ownsBase, adapters, ownsAdapters: true), tokenizer, tokenColumnName, promptColumnName, contextLength, generation, summary)
    {
    }

    private LanguageModelTransformer(TorchLanguageModelRunner runner, MoeTokenizer tokenizer, string tokenColumnName,
        string? promptColumnName, int contextLength, GenerationOptions generation, LanguageModelTrainingSummary? summary)
        : base(runner, tokenizer, new LanguageModelHeader(tokenColumnName, promptColumnName, contextLength, generation))
    {
        TrainingSummary = summary;
        runner.Model.eval();
    }

    /// <summary>A transformer over <paramref name="model"/> (which it then owns), scoring "Tokens" over the model's whole context.</summary>
    internal static LanguageModelTransformer Over(MoeCausalLM model, MoeTokenizer tokenizer) =>
        new(model, tokenizer, "Tokens", null, model.Config.MaxPositionEmbeddings, new GenerationOptions(), null);

    /// <summary>The TorchSharp model.</summary>
    internal MoeCausalLM Model => ((TorchLanguageModelRunner)Runner).Model;

    /// <summary>The LoRA adapters added to <see cref="Model"/>'s frozen weights, or null for a model without adapters.</summary>
    internal LoraAdapters? Adapters => ((TorchLanguageModelRunner)Runner).Adapters;

    /// <summary>The model's architecture (Hugging Face DeepseekV3Config fields).</summary>
    public MoeModelConfig Config => Model.Config;

    /// <summary>What training measured (null for a loaded or imported model).</summary>
    public LanguageModelTrainingSummary? TrainingSummary { get; }

    private protected override void Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(ModelVersions.Create(typeof(LanguageModelTransformer), ModelSignature, Version, LoaderSignature));
        Header.Write(ctx);
        byte[] tokenizer = SerializedTokenizer;
        byte[] config = Encoding.UTF8.GetBytes(Model.Config.ToJson());
        ctx.Writer.Write(SHA256.HashData(tokenizer));
        ctx.Writer.Write(SHA256.HashData(config));
        ModelStreams.WriteBlock(ctx, ConfigStream, config);
        ModelStreams.WriteBlock(ctx, TokenizerStream, tokenizer);
        ctx.SaveBinaryStream(WeightsStream, w => ModelWeightsFormat.Write(w, Model));
        if (Adapters is { } adapters) ctx.SaveBinaryStream(AdaptersStream, w => LoraAdaptersFormat.Write(w, adapters));
    }

    private static LanguageModelTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(ModelVersions.Create(typeof(LanguageModelTransformer), ModelSignature, Version, LoaderSignature, readsBackTo: VersionWithoutTokenizerDigest));
        // The weights entry is checked with its layout below, in one pass.
        ZipEntryIntegrity.Verify(ctx, deferred: WeightsStream);
        var header = LanguageModelHeader.Read(ctx);
        byte[]? tokenizerDigest = ctx.Header.ModelVerWritten >= VersionWithDigests ? ctx.Reader.ReadBytes(32) : null;
        byte[]? configDigest = ctx.Header.ModelVerWritten >= VersionWithDigests ? ctx.Reader.ReadBytes(32) : null;
        var (config, tokenizer) = SavedModelEntries.Read(ctx, ConfigStream, configDigest, TokenizerStream, tokenizerDigest, "language model");
        // The weights' CRC-32, names and shapes are checked against the config, in one pass, before the model (and its
        // memory) exists.
        var layout = ModelTensorLayout.Of(config);
        if (!ZipEntryIntegrity.VerifyEntry(ctx, WeightsStream, r => ModelWeightsFormat.CheckLayout(r, layout, WeightsStream)))
            throw new InvalidDataException($"The language model has no '{WeightsStream}' entry: the model file is incomplete.");
        // What the transformer's constructor would refuse, refused as the damaged file it is, before the model exists.
        if (header.ContextLength > config.MaxPositionEmbeddings)
            throw new InvalidDataException($"The language model's saved context length ({header.ContextLength}) exceeds its config's max_position_embeddings ({config.MaxPositionEmbeddings}): the model file is corrupt.");
        if (tokenizer.VocabularySize > config.VocabSize)
            throw new InvalidDataException($"The language model's tokenizer has {tokenizer.VocabularySize} ids, more than its config's vocab_size ({config.VocabSize}): the model file is corrupt.");
        Device device = DeviceSelector.Select(env, ComputeDevice.Auto, null);
        var model = new MoeCausalLM(config);
        try
        {
            if (!ctx.TryLoadBinaryStream(WeightsStream, r => ModelWeightsFormat.Read(r, model, WeightsStream)))
                throw new InvalidDataException($"The language model has no '{WeightsStream}' entry: the model file is incomplete.");
            model.to(device);
            LoraAdapters? adapters = null;
            ctx.TryLoadBinaryStream(AdaptersStream, r => adapters = LoraAdaptersFormat.Read(r, model, AdaptersStream));
            return adapters != null
                ? new LanguageModelTransformer(model, ownsBase: true, adapters, tokenizer, header.TokenColumnName, header.PromptColumnName, header.ContextLength, header.Generation, null)
                : new LanguageModelTransformer(model, tokenizer, header.TokenColumnName, header.PromptColumnName, header.ContextLength, header.Generation, null);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
