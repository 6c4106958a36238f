using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace MLNet.MoE;

/// <summary>
/// The architecture of a DeepSeek-style Mixture-of-Experts language model. Its JSON form is Hugging Face's
/// <c>DeepseekV3Config</c> (each property carries the field's name), so a <c>config.json</c> reads and writes
/// unchanged. Unknown fields of a read config are kept and written back.
/// </summary>
public sealed record MoeModelConfig
{
    /// <summary>Token vocabulary size.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 257;

    /// <summary>Width of the residual stream.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 128;

    /// <summary>Width of the dense SwiGLU layers.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 384;

    /// <summary>Width of one routed expert; shared experts are this times <see cref="NSharedExperts"/>.</summary>
    [JsonPropertyName("moe_intermediate_size")] public int MoeIntermediateSize { get; init; } = 64;

    /// <summary>Number of transformer blocks.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 4;

    /// <summary>Attention heads.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 4;

    /// <summary>Kept for Hugging Face compatibility; multi-head latent attention uses <see cref="NumAttentionHeads"/>.</summary>
    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; } = 4;

    /// <summary>Always-active shared experts, run as one SwiGLU of width <c>moe_intermediate_size × n_shared_experts</c>.</summary>
    [JsonPropertyName("n_shared_experts")] public int NSharedExperts { get; init; } = 1;

    /// <summary>Routed experts per MoE layer.</summary>
    [JsonPropertyName("n_routed_experts")] public int NRoutedExperts { get; init; } = 8;

    /// <summary>Multiplier of the routed experts' gate weights.</summary>
    [JsonPropertyName("routed_scaling_factor")] public double RoutedScalingFactor { get; init; } = 1.0;

    /// <summary>Rank of the compressed key/value latent.</summary>
    [JsonPropertyName("kv_lora_rank")] public int KvLoraRank { get; init; } = 32;

    /// <summary>Rank of the compressed query latent, or null for a plain <c>q_proj</c>.</summary>
    [JsonPropertyName("q_lora_rank")] public int? QLoraRank { get; init; } = 64;

    /// <summary>Per-head width of the rotary query/key part; the rotary key is shared by all heads.</summary>
    [JsonPropertyName("qk_rope_head_dim")] public int QkRopeHeadDim { get; init; } = 16;

    /// <summary>Per-head width of the values.</summary>
    [JsonPropertyName("v_head_dim")] public int VHeadDim { get; init; } = 32;

    /// <summary>Per-head width of the non-rotary query/key part.</summary>
    [JsonPropertyName("qk_nope_head_dim")] public int QkNopeHeadDim { get; init; } = 32;

    /// <summary>Per-head width of queries and keys: <c>qk_nope_head_dim + qk_rope_head_dim</c>.</summary>
    [JsonPropertyName("qk_head_dim")] public int QkHeadDim => QkNopeHeadDim + QkRopeHeadDim;

    /// <summary>Hugging Face's <c>head_dim</c>, written for it: the width of the rotary part, as transformers sets it.</summary>
    [JsonInclude, JsonPropertyName("head_dim")] private int HeadDim => QkRopeHeadDim;

    /// <summary>Expert groups for group-limited routing.</summary>
    [JsonPropertyName("n_group")] public int NGroup { get; init; } = 1;

    /// <summary>Groups kept per token.</summary>
    [JsonPropertyName("topk_group")] public int TopkGroup { get; init; } = 1;

    /// <summary>Routed experts active per token.</summary>
    [JsonPropertyName("num_experts_per_tok")] public int NumExpertsPerTok { get; init; } = 2;

    /// <summary>The first this many blocks use a dense SwiGLU instead of experts.</summary>
    [JsonPropertyName("first_k_dense_replace")] public int FirstKDenseReplace { get; init; } = 1;

    /// <summary>Whether the chosen experts' weights are normalised to sum to one.</summary>
    [JsonPropertyName("norm_topk_prob")] public bool NormTopkProb { get; init; } = true;

    /// <summary>The activation; only <c>silu</c> (SwiGLU) is supported.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";

    /// <summary>The longest context the model is built for.</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 256;

    /// <summary>Standard deviation of the random initialisation.</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;

    /// <summary>Epsilon of every RMSNorm.</summary>
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;

    /// <summary>Rotary base frequency.</summary>
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;

    /// <summary>YaRN scaling, or null for plain rotary embeddings; read from <c>rope_parameters</c> too, as transformers 5 writes it.</summary>
    [JsonPropertyName("rope_scaling"), JsonPropertyOrder(1), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>Whether rotary features are stored interleaved (even, odd pairs), as DeepSeek's weights are.</summary>
    [JsonPropertyName("rope_interleave")] public bool RopeInterleave { get; init; } = true;

    /// <summary>Bias on <c>q_a_proj</c>, <c>kv_a_proj_with_mqa</c> and <c>o_proj</c>.</summary>
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }

    /// <summary>Whether the output head shares the embedding matrix; tied heads are not supported, so <see cref="Validate"/> refuses true.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }

    /// <summary>Beginning-of-sequence token id.</summary>
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }

    /// <summary>End-of-sequence token id.</summary>
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; init; }

    /// <summary>Padding token id.</summary>
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }

    /// <summary>Depth of multi-token prediction modules, used in training only.</summary>
    [JsonPropertyName("num_nextn_predict_layers")] public int NumNextnPredictLayers { get; init; }

    /// <summary>Router scores: <c>sigmoid</c> (DeepSeek-V3) or <c>softmax</c> (DeepSeek-V2 / DeepSeekMoE).</summary>
    [JsonPropertyName("scoring_func")] public string ScoringFunc { get; init; } = "sigmoid";

    /// <summary>Expert selection: <c>noaux_tc</c> (V3: biased scores, group score = sum of top-2), <c>greedy</c> or
    /// <c>group_limited_greedy</c> (V2: group score = max).</summary>
    [JsonPropertyName("topk_method")] public string TopkMethod { get; init; } = "noaux_tc";

    /// <summary>Fields of a read config.json that this class does not model; written back unchanged.</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, JsonNode?> ExtraFields { get; init; } = new Dictionary<string, JsonNode?>();

    /// <summary>Whether block <paramref name="layer"/> uses experts (false: dense SwiGLU).</summary>
    public bool IsMoeLayer(int layer) => layer >= FirstKDenseReplace;

    /// <summary>The softmax scale of attention: <c>qk_head_dim^-0.5</c>, times <c>mscale²</c> under YaRN with <c>mscale_all_dim</c>.</summary>
    [JsonIgnore]
    public double SoftmaxScale
    {
        get
        {
            double scale = 1.0 / Math.Sqrt(QkHeadDim);
            if (RopeScaling is { MScaleAllDim: not 0 } yarn)
            {
                double m = RopeScaling.GetMScale(yarn.Factor, yarn.MScaleAllDim);
                scale *= m * m;
            }
            return scale;
        }
    }

    /// <summary>
    /// The defaults: a model of 1.09M parameters (0.64M active per token) that trains in minutes on two CPU cores
    /// (byte-level vocabulary). Not the benchmark config named <c>tiny</c>, which is <see cref="Small"/>.
    /// </summary>
    public static MoeModelConfig Tiny => new();

    /// <summary>A model of 29.5M parameters (27.7M active per token), for a GPU: the benchmark config named <c>tiny</c>.</summary>
    public static MoeModelConfig Small => new()
    {
        VocabSize = 50304, HiddenSize = 256, IntermediateSize = 768, MoeIntermediateSize = 128, NumHiddenLayers = 4,
        NumAttentionHeads = 4, NumKeyValueHeads = 4, NRoutedExperts = 8, NumExpertsPerTok = 2, QLoraRank = null,
        KvLoraRank = 64, QkNopeHeadDim = 32, QkRopeHeadDim = 16, VHeadDim = 32, MaxPositionEmbeddings = 1024,
    };

    /// <summary>Checks sizes and switches; throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        static void Positive(int value, string field)
        {
            if (value <= 0) throw new ArgumentException($"Model config field '{field}' must be positive, got {value}.", field);
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(MoeIntermediateSize, "moe_intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(KvLoraRank, "kv_lora_rank");
        Positive(QkRopeHeadDim, "qk_rope_head_dim");
        Positive(VHeadDim, "v_head_dim");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (QkNopeHeadDim < 0) throw new ArgumentException($"Model config field 'qk_nope_head_dim' must not be negative, got {QkNopeHeadDim}.", "qk_nope_head_dim");
        if (QLoraRank is <= 0) throw new ArgumentException($"Model config field 'q_lora_rank' must be positive or null, got {QLoraRank}.", "q_lora_rank");
        if (QkRopeHeadDim % 2 != 0) throw new ArgumentException($"Model config field 'qk_rope_head_dim' must be even, got {QkRopeHeadDim}.", "qk_rope_head_dim");
        if (FirstKDenseReplace < 0) throw new ArgumentException($"Model config field 'first_k_dense_replace' must not be negative, got {FirstKDenseReplace}.", "first_k_dense_replace");
        if (NumNextnPredictLayers < 0) throw new ArgumentException($"Model config field 'num_nextn_predict_layers' must not be negative, got {NumNextnPredictLayers}.", "num_nextn_predict_layers");
        if (TieWordEmbeddings)
            throw new ArgumentException("Model config field 'tie_word_embeddings' is true: output heads tied to the embedding matrix are not supported; untie them (copy the embedding into lm_head.weight and set the field to false).", "tie_word_embeddings");
        if (HiddenAct != "silu") throw new ArgumentException($"Model config field 'hidden_act' must be 'silu' (SwiGLU), got '{HiddenAct}'.", "hidden_act");
        // Negated comparisons: NaN fails every one of them and is refused with the rest.
        if (!(RmsNormEps > 0 && RmsNormEps < 1)) throw new ArgumentException($"Model config field 'rms_norm_eps' must be positive and below 1, got {RmsNormEps}.", "rms_norm_eps");
        // A base at or below 1 makes the rotary frequencies grow instead of fall (and a subnormal one overflows them).
        if (!(RopeTheta > 1 && RopeTheta <= 1e12)) throw new ArgumentException($"Model config field 'rope_theta' must be above 1 and at most 1e12, got {RopeTheta}.", "rope_theta");
        if (!(RoutedScalingFactor > 0 && RoutedScalingFactor <= 1000)) throw new ArgumentException($"Model config field 'routed_scaling_factor' must be positive and at most 1000, got {RoutedScalingFactor}.", "routed_scaling_factor");
        if (!(InitializerRange >= 0 && double.IsFinite(InitializerRange))) throw new ArgumentException($"Model config field 'initializer_range' must be finite and not negative, got {InitializerRange}.", "initializer_range");
        if (RopeScaling is { } yarn && !(yarn.Factor > 0 && double.IsFinite(yarn.Factor) && yarn.OriginalMaxPositionEmbeddings > 0))
            throw new ArgumentException("Model config field 'rope_scaling' needs a positive, finite 'factor' and a positive 'original_max_position_embeddings'.", "rope_scaling");
        // Sizes beyond any DeepSeek model by orders of magnitude come from damaged or hostile files: refused before the
        // model (or the list of the tensors it expects) is built.
        static void AtMost(long value, long limit, string field, string limitName)
        {
            if (value > limit) throw new ArgumentException($"Model config field '{field}' is {value:N0}, above the limit of {limit:N0} (ModelSizeLimits.{limitName}).", field);
        }
        var limits = ModelSizeLimits.Default;
        AtMost(VocabSize, limits.VocabSize, "vocab_size", nameof(limits.VocabSize));
        AtMost(HiddenSize, limits.HiddenSize, "hidden_size", nameof(limits.HiddenSize));
        AtMost(IntermediateSize, limits.IntermediateSize, "intermediate_size", nameof(limits.IntermediateSize));
        AtMost(MoeIntermediateSize, limits.IntermediateSize, "moe_intermediate_size", nameof(limits.IntermediateSize));
        AtMost(NumHiddenLayers, limits.Layers, "num_hidden_layers", nameof(limits.Layers));
        AtMost(NumNextnPredictLayers, limits.PredictionLayers, "num_nextn_predict_layers", nameof(limits.PredictionLayers));
        AtMost(NumAttentionHeads, limits.AttentionHeads, "num_attention_heads", nameof(limits.AttentionHeads));
        AtMost(KvLoraRank, limits.LatentRank, "kv_lora_rank", nameof(limits.LatentRank));
        AtMost(QLoraRank ?? 0, limits.LatentRank, "q_lora_rank", nameof(limits.LatentRank));
        AtMost(QkRopeHeadDim, limits.HeadDim, "qk_rope_head_dim", nameof(limits.HeadDim));
        AtMost(QkNopeHeadDim, limits.HeadDim, "qk_nope_head_dim", nameof(limits.HeadDim));
        AtMost(VHeadDim, limits.HeadDim, "v_head_dim", nameof(limits.HeadDim));
        AtMost(MaxPositionEmbeddings, limits.Positions, "max_position_embeddings", nameof(limits.Positions));
        AtMost(NRoutedExperts, limits.RoutedExperts, "n_routed_experts", nameof(limits.RoutedExperts));
        AtMost(NSharedExperts, limits.SharedExperts, "n_shared_experts", nameof(limits.SharedExperts));
        bool hasMoe = NumHiddenLayers > FirstKDenseReplace || NumNextnPredictLayers > 0 && NumHiddenLayers + NumNextnPredictLayers > FirstKDenseReplace;
        if (!hasMoe) return;
        Positive(NRoutedExperts, "n_routed_experts");
        Positive(NumExpertsPerTok, "num_experts_per_tok");
        Positive(NGroup, "n_group");
        if (NSharedExperts < 0) throw new ArgumentException($"Model config field 'n_shared_experts' must not be negative, got {NSharedExperts}.", "n_shared_experts");
        if (NRoutedExperts % NGroup != 0)
            throw new ArgumentException($"Model config field 'n_routed_experts' ({NRoutedExperts}) must be divisible by 'n_group' ({NGroup}).", "n_routed_experts");
        if (TopkGroup <= 0 || TopkGroup > NGroup)
            throw new ArgumentException($"Model config field 'topk_group' ({TopkGroup}) must be between 1 and 'n_group' ({NGroup}).", "topk_group");
        int perGroup = NRoutedExperts / NGroup;
        if (NumExpertsPerTok > NRoutedExperts)
            throw new ArgumentException($"Model config field 'num_experts_per_tok' ({NumExpertsPerTok}) exceeds 'n_routed_experts' ({NRoutedExperts}).", "num_experts_per_tok");
        // 'greedy' ignores the groups, so only the group-limited methods are bound by the kept groups' experts.
        if (RoutingModes.TryParseSelection(TopkMethod) is ExpertSelection.NoAuxTopK or ExpertSelection.GroupLimitedGreedy && NumExpertsPerTok > TopkGroup * perGroup)
            throw new ArgumentException($"Model config field 'num_experts_per_tok' ({NumExpertsPerTok}) exceeds the experts in the kept groups ({TopkGroup} × {perGroup}).", "num_experts_per_tok");
        if (RoutingModes.TryParseScoring(ScoringFunc) == null)
            throw new ArgumentException($"Model config field 'scoring_func' must be 'sigmoid' or 'softmax', got '{ScoringFunc}'.", "scoring_func");
        if (RoutingModes.TryParseSelection(TopkMethod) == null)
            throw new ArgumentException($"Model config field 'topk_method' must be 'noaux_tc', 'greedy' or 'group_limited_greedy', got '{TopkMethod}'.", "topk_method");
        if (RoutingModes.TryParseSelection(TopkMethod) == ExpertSelection.NoAuxTopK && NGroup > 1 && perGroup < 2)
            throw new ArgumentException($"Model config field 'n_group' ({NGroup}) leaves fewer than two experts per group, which 'noaux_tc' group scores need.", "n_group");
    }

    /// <summary>
    /// The JSON binding of a config: float fields as Python float literals, integer fields from any integral number, a null
    /// only where the property is nullable, and a read that starts from <c>DeepseekV3Config</c>'s defaults, so a field the
    /// file leaves out takes transformers' value.
    /// </summary>
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        RespectNullableAnnotations = true,
        UnknownTypeHandling = JsonUnknownTypeHandling.JsonNode,
        Converters = { new FloatLiteralConverter(), new IntegralNumberConverter() },
        TypeInfoResolver = new DefaultJsonTypeInfoResolver
        {
            Modifiers = { info => { if (info.Type == typeof(MoeModelConfig)) info.CreateObject = () => DeepseekV3ConfigDefaults.Values with { }; } },
        },
    };

    /// <summary>Written for Hugging Face, which loads the model class it names.</summary>
    [JsonInclude, JsonPropertyName("architectures"), JsonPropertyOrder(-1)] private string[] Architectures => ["DeepseekV3ForCausalLM"];

    /// <summary>Written for Hugging Face, which picks the config class by it.</summary>
    [JsonInclude, JsonPropertyName("model_type"), JsonPropertyOrder(-1)] private string ModelType => "deepseek_v3";

    /// <summary>The rotary section of transformers 5: the base frequency, the type, and the YaRN fields under YaRN.</summary>
    [JsonInclude, JsonPropertyName("rope_parameters"), JsonPropertyOrder(1)]
    private JsonObject RopeParameters
    {
        get
        {
            var section = RopeScaling == null ? new JsonObject { ["rope_type"] = "default" } : JsonSerializer.SerializeToNode(RopeScaling, Json)!.AsObject();
            section.Insert(0, "rope_theta", JsonSerializer.SerializeToNode(RopeTheta, Json));
            return section;
        }
    }

    /// <summary>The fields of a read config that no property binds; <see cref="FromJson"/> moves them into
    /// <see cref="ExtraFields"/>, so this is null outside a read.</summary>
    [JsonExtensionData, JsonInclude] private Dictionary<string, object?>? UnknownFields { get; init; }

    /// <summary>Reads a Hugging Face <c>config.json</c>; errors name the file and field.</summary>
    public static MoeModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model config '{path}' does not exist.", path);
        string text;
        try
        {
            text = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(File.ReadAllBytes(path)).TrimStart('\uFEFF');
        }
        catch (System.Text.DecoderFallbackException e)
        {
            throw new InvalidDataException($"Model config '{path}' is not valid UTF-8 text.", e);
        }
        return FromJson(text, path);
    }

    /// <summary>Parses config JSON; <paramref name="source"/> names the origin in error messages.</summary>
    public static MoeModelConfig FromJson(string json, string source = "config.json")
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) as JsonObject ?? throw new InvalidDataException($"Model config '{source}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Model config '{source}' is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {MLNet.MoE.MessageText.Printable(e.Message)}", e);
        }
        // A missing field means DeepseekV3Config's default (the object the read starts from) and a null what transformers
        // makes of it (see DeepseekV3ConfigDefaults); the fields transformers does not know keep this library's defaults.
        DeepseekV3ConfigDefaults.ResolveNulls(root);
        var moved = DeepseekV3ConfigDefaults.MergeRopeSections(root, source);
        MoeModelConfig read;
        try
        {
            read = root.Deserialize<MoeModelConfig>(Json)!;
        }
        catch (JsonException e)
        {
            throw BindingError(root, source, moved, e);
        }
        var config = read with
        {
            ExtraFields = read.UnknownFields?.ToDictionary(field => field.Key, field => (JsonNode?)field.Value) ?? new Dictionary<string, JsonNode?>(),
            UnknownFields = null,
        };
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"Model config '{source}': {e.Message}", e);
        }
        return config;
    }

    /// <summary>The refusal of the field the typed read of <paramref name="root"/> failed on, found by the JSON path of
    /// <paramref name="error"/> (<c>$.hidden_size</c>, <c>$.rope_scaling.factor</c>); <paramref name="moved"/> names the
    /// section a field was moved from.</summary>
    private static InvalidDataException BindingError(JsonObject root, string source, IReadOnlyDictionary<string, string> moved, JsonException error)
    {
        if (error.Path is not ['$', '.', .. string path]) return new InvalidDataException($"Model config '{source}' is not valid: {MLNet.MoE.MessageText.Printable(error.Message)}", error);
        string[] names = path.Split('.');
        JsonNode? value = root;
        Type type = typeof(MoeModelConfig);
        foreach (string name in names)
        {
            value = (value as JsonObject)?[name];
            type = Json.GetTypeInfo(type).Properties.FirstOrDefault(p => p.Name == name)?.PropertyType ?? typeof(object);
        }
        if (moved.TryGetValue(names[0], out string? section)) source = $"{source}: {section}";
        return FieldError(source, names[^1], value, (Nullable.GetUnderlyingType(type) ?? type).Name, error);
    }

    /// <summary>The refusal of field <paramref name="field"/> of <paramref name="source"/>, which holds <paramref name="value"/>
    /// where a value of type <paramref name="expected"/> is needed.</summary>
    internal static InvalidDataException FieldError(string source, string field, JsonNode? value, string expected, Exception? inner = null) => new(value == null
        ? $"Model config '{source}': field '{field}' is null; Hugging Face's DeepseekV3Config needs a {expected} there (leave the field out for its default)."
        : $"Model config '{source}': field '{field}' has the wrong type or range ({value.ToJsonString()}); expected {expected}.", inner);

    /// <summary>Writes the config as Hugging Face <c>config.json</c> text (DeepseekV3 names, <c>model_type</c> deepseek_v3).</summary>
    public string ToJson()
    {
        var root = JsonSerializer.SerializeToNode(this, Json)!.AsObject();
        foreach (var (key, value) in ExtraFields) root.TryAdd(key, value?.DeepClone());
        // Hugging Face requires the field; a value read from a config (kept in ExtraFields) wins over this default.
        root.TryAdd("attention_dropout", JsonNode.Parse("0.0"));
        return root.ToJsonString(Json);
    }

    /// <summary>Writes <c>config.json</c> text to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    /// <summary>The number of parameters, counting every routed expert (total) or only the active ones per token.</summary>
    public long ParameterCount(bool activeOnly = false)
    {
        long h = HiddenSize;
        long attention = (QLoraRank is int q ? h * q + q + (long)q * NumAttentionHeads * QkHeadDim : h * NumAttentionHeads * QkHeadDim)
            + h * (KvLoraRank + QkRopeHeadDim) + KvLoraRank + (long)KvLoraRank * NumAttentionHeads * (QkNopeHeadDim + VHeadDim)
            + (long)NumAttentionHeads * VHeadDim * h;
        long dense = 3 * h * IntermediateSize;
        long expert = 3 * h * MoeIntermediateSize;
        long experts = (activeOnly ? NumExpertsPerTok : NRoutedExperts) * expert + NSharedExperts * expert + h * NRoutedExperts;
        long total = 0;
        for (int i = 0; i < NumHiddenLayers; i++) total += attention + 2 * h + (IsMoeLayer(i) ? experts : dense);
        total += VocabSize * h * (TieWordEmbeddings ? 1 : 2) + h;
        return total;
    }
}
