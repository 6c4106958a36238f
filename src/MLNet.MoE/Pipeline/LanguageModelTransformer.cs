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
/// A trained (or imported) Mixture-of-Experts language model in an ML.NET pipeline. For each row it adds
/// <c>Score</c> (mean next-token cross-entropy of the row's tokens, nats), <c>Perplexity</c> (exp of Score),
/// <c>TokenCount</c> (tokens scored) and <c>TokenAccuracy</c> (share of tokens that were the most likely next token),
/// and, when a prompt column is configured, <c>GeneratedText</c>. A row's first token is predicted from the
/// end-of-text token; rows longer than the context are scored in consecutive windows. Prompts longer than the
/// context minus the new tokens keep their last tokens (left truncation). Saved in the model zip with its config,
/// weights and tokenizer.
/// </summary>
public sealed class LanguageModelTransformer : ITransformer, ICanSaveModel, IDisposable
{
    internal const string LoaderSignature = "MLNetMoELanguageModel";
    private const string ModelSignature = "MOELANGM";
    // 0x00010002: the header records the SHA-256 of the tokenizer and config entries, checked at load.
    private const uint Version = 0x00010002;
    private const uint VersionWithoutTokenizerDigest = 0x00010001;
    private const string ConfigStream = "Config.json";
    private const string WeightsStream = "Weights.bin";
    private const string TokenizerStream = "Tokenizer.bin";

    /// <summary>Name of the mean cross-entropy column.</summary>
    public const string ScoreColumnName = "Score";

    /// <summary>Name of the perplexity column.</summary>
    public const string PerplexityColumnName = "Perplexity";

    /// <summary>Name of the scored-token count column.</summary>
    public const string TokenCountColumnName = "TokenCount";

    /// <summary>Name of the next-token accuracy column.</summary>
    public const string TokenAccuracyColumnName = "TokenAccuracy";

    /// <summary>Name of the generated-text column.</summary>
    public const string GeneratedTextColumnName = "GeneratedText";

    private readonly IHostEnvironment env;
    private readonly Device device;

    internal LanguageModelTransformer(IHostEnvironment env, MoeCausalLM model, MoeTokenizer tokenizer, string tokenColumnName,
        string? promptColumnName, int contextLength, GenerationOptions generation, Device device, TrainingSummary? summary)
    {
        this.env = env;
        this.device = device;
        Model = model;
        Tokenizer = tokenizer;
        TokenColumnName = tokenColumnName;
        PromptColumnName = promptColumnName;
        ContextLength = contextLength;
        Generation = generation;
        TrainingSummary = summary;
        Model.eval();
    }

    /// <summary>The TorchSharp model.</summary>
    public MoeCausalLM Model { get; }

    /// <summary>The tokenizer used for prompts and generated text.</summary>
    public MoeTokenizer Tokenizer { get; }

    /// <summary>The device the model runs on.</summary>
    public Device Device => device;

    /// <summary>The token-id column scored.</summary>
    public string TokenColumnName { get; }

    /// <summary>The prompt column, or null when the transformer does not generate.</summary>
    public string? PromptColumnName { get; }

    /// <summary>Tokens per scoring window and the generation context.</summary>
    public int ContextLength { get; }

    /// <summary>How <c>GeneratedText</c> is produced.</summary>
    public GenerationOptions Generation { get; }

    /// <summary>What training measured (null for a loaded or imported model).</summary>
    public TrainingSummary? TrainingSummary { get; }

    /// <summary>Always true: each row is mapped on its own.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus the score columns (and GeneratedText with a prompt column).</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => new Mapper(this, inputSchema).OutputSchema;

    /// <summary>A row-to-row mapper (used by PredictionEngine).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new MappedRowToRowMapper(new Mapper(this, inputSchema));

    /// <summary>Adds the output columns, computed lazily row by row.</summary>
    public IDataView Transform(IDataView input) => new MappedDataView(input, new Mapper(this, input.Schema));

    /// <summary>Generates a continuation of <paramref name="prompt"/> with <paramref name="options"/> (default: the transformer's).</summary>
    public string Generate(string prompt, GenerationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= Generation;
        options.Validate();
        int maxNew = Math.Min(options.MaxNewTokens, ContextLength - 1);
        var ids = new List<int> { Tokenizer.EndOfTextId };
        ids.AddRange(Tokenizer.Encode(prompt));
        int keep = ContextLength - maxNew;
        if (ids.Count > keep) ids = ids.GetRange(ids.Count - keep, keep);
        var sampler = new TokenSampler(options.Temperature, options.TopK, options.TopP, options.Seed);
        string? stopped = null;
        Func<IReadOnlyList<int>, bool>? stop = options.StopSequences.Count == 0 ? null : generated =>
        {
            string text = Tokenizer.Decode(generated);
            foreach (string s in options.StopSequences)
            {
                int at = text.IndexOf(s, StringComparison.Ordinal);
                if (at >= 0)
                {
                    stopped = text[..at];
                    return true;
                }
            }
            return false;
        };
        int[] output = TokenGenerator.Generate(Model, ids, maxNew, sampler, options.StopAtEndOfText ? Tokenizer.EndOfTextId : null, stop);
        return stopped ?? Tokenizer.Decode(output);
    }

    /// <summary>Scores token ids: summed cross-entropy, correct next tokens and tokens scored (the first predicted from end-of-text).</summary>
    public StreamScore ScoreTokens(IReadOnlyList<int> tokens)
    {
        var stream = new int[tokens.Count + 1];
        stream[0] = Tokenizer.EndOfTextId;
        for (int i = 0; i < tokens.Count; i++)
        {
            if ((uint)tokens[i] >= (uint)Model.Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {tokens[i]} in column '{TokenColumnName}' is outside the model's vocabulary (0..{Model.Config.VocabSize - 1}).");
            stream[i + 1] = tokens[i];
        }
        using var scope = torch.NewDisposeScope();
        return StreamEvaluator.Score(Model, stream, ContextLength, 8, device);
    }

    /// <summary>Frees the model's native memory.</summary>
    public void Dispose() => Model.Dispose();

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(ModelVersions.Create(ModelSignature, Version, LoaderSignature));
        ctx.SaveNonEmptyString(TokenColumnName);
        ctx.SaveStringOrNull(PromptColumnName);
        ctx.Writer.Write(ContextLength);
        GenerationOptionsFormat.Write(ctx.Writer, Generation);
        byte[] tokenizer = Tokenizer.Serialize();
        byte[] config = Encoding.UTF8.GetBytes(Model.Config.ToJson());
        ctx.Writer.Write(SHA256.HashData(tokenizer));
        ctx.Writer.Write(SHA256.HashData(config));
        ctx.SaveBinaryStream(ConfigStream, w =>
        {
            w.Write(config.Length);
            w.Write(config);
        });
        ctx.SaveBinaryStream(TokenizerStream, w =>
        {
            w.Write(tokenizer.Length);
            w.Write(tokenizer);
        });
        ctx.SaveBinaryStream(WeightsStream, w => ModelWeightsFormat.Write(w, Model));
    }

    private static LanguageModelTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(ModelVersions.Create(ModelSignature, Version, LoaderSignature, readsBackTo: VersionWithoutTokenizerDigest));
        // The weights entry is checked with its layout below, in one pass.
        ZipEntryIntegrity.Verify(ctx, deferred: WeightsStream);
        string tokenColumn = ctx.LoadNonEmptyString();
        string? promptColumn = ctx.LoadStringOrNull();
        int contextLength = ctx.Reader.ReadInt32();
        if (contextLength < 2) throw new InvalidDataException($"The language model's saved context length ({contextLength}) is invalid: the model file is corrupt.");
        GenerationOptions generation = GenerationOptionsFormat.Read(ctx.Reader);
        byte[]? tokenizerDigest = ctx.Header.ModelVerWritten >= Version ? ctx.Reader.ReadBytes(32) : null;
        byte[]? configDigest = ctx.Header.ModelVerWritten >= Version ? ctx.Reader.ReadBytes(32) : null;
        MoeModelConfig? config = null;
        MoeTokenizer? tokenizer = null;
        if (!ctx.TryLoadBinaryStream(ConfigStream, r => config = ReadConfig(ModelStreams.ReadBlock(r, ConfigStream), configDigest)) || config == null)
            throw new InvalidDataException($"The language model has no '{ConfigStream}' entry: the model file is incomplete.");
        if (!ctx.TryLoadBinaryStream(TokenizerStream, r => tokenizer = ReadTokenizer(ModelStreams.ReadBlock(r, TokenizerStream), tokenizerDigest)) || tokenizer == null)
            throw new InvalidDataException($"The language model has no '{TokenizerStream}' entry: the model file is incomplete.");
        // The weights' CRC-32, names and shapes are checked against the config, in one pass, before the model (and its
        // memory) exists.
        var layout = HuggingFaceCheckpoint.ExpectedTensors(config);
        if (!ZipEntryIntegrity.VerifyEntry(ctx, WeightsStream, r => ModelWeightsFormat.CheckLayout(r, layout, WeightsStream)))
            throw new InvalidDataException($"The language model has no '{WeightsStream}' entry: the model file is incomplete.");
        Device device = DeviceSelector.Select(env, ComputeDevice.Auto, null);
        var model = new MoeCausalLM(config);
        bool loaded = false;
        try
        {
            loaded = ctx.TryLoadBinaryStream(WeightsStream, r => ModelWeightsFormat.Read(r, model, WeightsStream));
            if (!loaded) throw new InvalidDataException($"The language model has no '{WeightsStream}' entry: the model file is incomplete.");
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.to(device);
        return new LanguageModelTransformer(env, model, tokenizer, tokenColumn, promptColumn, contextLength, generation, device, null);
    }

    /// <summary>The saved model config, refused when it is not the one the model was saved with.</summary>
    private static MoeModelConfig ReadConfig(byte[] bytes, byte[]? recordedDigest)
    {
        RequireRecordedDigest(bytes, recordedDigest, ConfigStream, "config");
        return MoeModelConfig.FromJson(Encoding.UTF8.GetString(bytes), "model zip: " + ConfigStream);
    }

    /// <summary>The saved tokenizer, refused when it is not the one the model was saved with (a swapped or damaged entry).</summary>
    private static MoeTokenizer ReadTokenizer(byte[] bytes, byte[]? recordedDigest)
    {
        RequireRecordedDigest(bytes, recordedDigest, TokenizerStream, "tokenizer");
        return MoeTokenizer.Deserialize(bytes);
    }

    /// <summary>Refuses an entry whose SHA-256 differs from the one the header recorded at save (none recorded: older zips).</summary>
    private static void RequireRecordedDigest(byte[] bytes, byte[]? recordedDigest, string entry, string what)
    {
        if (recordedDigest != null && !CryptographicOperations.FixedTimeEquals(recordedDigest, SHA256.HashData(bytes)))
            throw new InvalidDataException($"The model entry '{entry}' is not the {what} this model was saved with (its SHA-256 differs from the one recorded at save): the entry was replaced or damaged.");
    }

    private sealed class Mapper : ColumnMapper
    {
        private readonly LanguageModelTransformer parent;
        private readonly int tokenIndex;
        private readonly int promptIndex = -1;

        public Mapper(LanguageModelTransformer parent, DataViewSchema inputSchema) : base(inputSchema)
        {
            this.parent = parent;
            tokenIndex = SchemaChecks.RequireTokenIds(inputSchema, parent.TokenColumnName, "Token").Index;
            var columns = new List<DataViewSchema.DetachedColumn>
            {
                new(ScoreColumnName, NumberDataViewType.Single),
                new(PerplexityColumnName, NumberDataViewType.Single),
                new(TokenCountColumnName, NumberDataViewType.Single),
                new(TokenAccuracyColumnName, NumberDataViewType.Single),
            };
            if (parent.PromptColumnName != null)
            {
                promptIndex = SchemaChecks.RequireText(inputSchema, parent.PromptColumnName, "Prompt").Index;
                columns.Add(new(GeneratedTextColumnName, TextDataViewType.Instance));
            }
            AddedColumns = columns;
        }

        public override IReadOnlyList<DataViewSchema.DetachedColumn> AddedColumns { get; }

        public override IEnumerable<int> GetInputDependencies(Func<int, bool> isAddedColumnActive)
        {
            if (Enumerable.Range(0, 4).Any(isAddedColumnActive)) yield return tokenIndex;
            if (promptIndex >= 0 && isAddedColumnActive(4)) yield return promptIndex;
        }

        public override Delegate?[] CreateGetters(DataViewRow input, Func<int, bool> isAddedColumnActive)
        {
            var getters = new Delegate?[AddedColumns.Count];
            if (Enumerable.Range(0, 4).Any(isAddedColumnActive))
            {
                var tokenGetter = input.GetGetter<VBuffer<int>>(input.Schema[tokenIndex]);
                VBuffer<int> buffer = default;
                int[]? cachedTokens = null;
                StreamScore cached = default;
                StreamScore Current()
                {
                    tokenGetter(ref buffer);
                    int[] tokens = buffer.DenseValues().ToArray();
                    if (cachedTokens == null || !cachedTokens.AsSpan().SequenceEqual(tokens))
                    {
                        cached = parent.ScoreTokens(tokens);
                        cachedTokens = tokens;
                    }
                    return cached;
                }
                getters[0] = (ValueGetter<float>)((ref float v) => { var s = Current(); v = s.Tokens == 0 ? float.NaN : (float)(s.CrossEntropySum / s.Tokens); });
                getters[1] = (ValueGetter<float>)((ref float v) => { var s = Current(); v = s.Tokens == 0 ? float.NaN : (float)Math.Exp(s.CrossEntropySum / s.Tokens); });
                getters[2] = (ValueGetter<float>)((ref float v) => v = Current().Tokens);
                getters[3] = (ValueGetter<float>)((ref float v) => { var s = Current(); v = s.Tokens == 0 ? float.NaN : (float)s.Correct / s.Tokens; });
            }
            if (promptIndex >= 0 && isAddedColumnActive(4))
            {
                var promptGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[promptIndex]);
                ReadOnlyMemory<char> prompt = default;
                string? cachedPrompt = null;
                string cachedText = "";
                getters[4] = (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) =>
                {
                    promptGetter(ref prompt);
                    string text = prompt.ToString();
                    if (cachedPrompt != text)
                    {
                        cachedText = parent.Generate(text);
                        cachedPrompt = text;
                    }
                    v = cachedText.AsMemory();
                });
            }
            return getters;
        }
    }
}
