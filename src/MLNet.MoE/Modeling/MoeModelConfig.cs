using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNet.MoE;

/// <summary>
/// The architecture of a DeepSeek-style Mixture-of-Experts language model. Property names follow Hugging Face's
/// <c>DeepseekV3Config</c> (the JSON field is given on each property), so a <c>config.json</c> reads and writes
/// unchanged. Unknown fields of a read config are kept and written back.
/// </summary>
public sealed record MoeModelConfig
{
    /// <summary>Token vocabulary size (<c>vocab_size</c>).</summary>
    public int VocabSize { get; init; } = 257;

    /// <summary>Width of the residual stream (<c>hidden_size</c>).</summary>
    public int HiddenSize { get; init; } = 128;

    /// <summary>Width of the dense SwiGLU layers (<c>intermediate_size</c>).</summary>
    public int IntermediateSize { get; init; } = 384;

    /// <summary>Width of one routed expert; shared experts are this times <see cref="NSharedExperts"/> (<c>moe_intermediate_size</c>).</summary>
    public int MoeIntermediateSize { get; init; } = 64;

    /// <summary>Number of transformer blocks (<c>num_hidden_layers</c>).</summary>
    public int NumHiddenLayers { get; init; } = 4;

    /// <summary>Attention heads (<c>num_attention_heads</c>).</summary>
    public int NumAttentionHeads { get; init; } = 4;

    /// <summary>Kept for Hugging Face compatibility; multi-head latent attention uses <see cref="NumAttentionHeads"/> (<c>num_key_value_heads</c>).</summary>
    public int NumKeyValueHeads { get; init; } = 4;

    /// <summary>Always-active shared experts, run as one SwiGLU of width <c>moe_intermediate_size × n_shared_experts</c> (<c>n_shared_experts</c>).</summary>
    public int NSharedExperts { get; init; } = 1;

    /// <summary>Routed experts per MoE layer (<c>n_routed_experts</c>).</summary>
    public int NRoutedExperts { get; init; } = 8;

    /// <summary>Multiplier of the routed experts' gate weights (<c>routed_scaling_factor</c>).</summary>
    public double RoutedScalingFactor { get; init; } = 1.0;

    /// <summary>Rank of the compressed key/value latent (<c>kv_lora_rank</c>).</summary>
    public int KvLoraRank { get; init; } = 32;

    /// <summary>Rank of the compressed query latent, or null for a plain <c>q_proj</c> (<c>q_lora_rank</c>).</summary>
    public int? QLoraRank { get; init; } = 64;

    /// <summary>Per-head width of the rotary query/key part; the rotary key is shared by all heads (<c>qk_rope_head_dim</c>).</summary>
    public int QkRopeHeadDim { get; init; } = 16;

    /// <summary>Per-head width of the values (<c>v_head_dim</c>).</summary>
    public int VHeadDim { get; init; } = 32;

    /// <summary>Per-head width of the non-rotary query/key part (<c>qk_nope_head_dim</c>).</summary>
    public int QkNopeHeadDim { get; init; } = 32;

    /// <summary>Expert groups for group-limited routing (<c>n_group</c>).</summary>
    public int NGroup { get; init; } = 1;

    /// <summary>Groups kept per token (<c>topk_group</c>).</summary>
    public int TopkGroup { get; init; } = 1;

    /// <summary>Routed experts active per token (<c>num_experts_per_tok</c>).</summary>
    public int NumExpertsPerTok { get; init; } = 2;

    /// <summary>The first this many blocks use a dense SwiGLU instead of experts (<c>first_k_dense_replace</c>).</summary>
    public int FirstKDenseReplace { get; init; } = 1;

    /// <summary>Whether the chosen experts' weights are normalised to sum to one (<c>norm_topk_prob</c>).</summary>
    public bool NormTopkProb { get; init; } = true;

    /// <summary>The activation; only <c>silu</c> (SwiGLU) is supported (<c>hidden_act</c>).</summary>
    public string HiddenAct { get; init; } = "silu";

    /// <summary>The longest context the model is built for (<c>max_position_embeddings</c>).</summary>
    public int MaxPositionEmbeddings { get; init; } = 256;

    /// <summary>Standard deviation of the random initialisation (<c>initializer_range</c>).</summary>
    public double InitializerRange { get; init; } = 0.02;

    /// <summary>Epsilon of every RMSNorm (<c>rms_norm_eps</c>).</summary>
    public double RmsNormEps { get; init; } = 1e-6;

    /// <summary>Rotary base frequency (<c>rope_theta</c>).</summary>
    public double RopeTheta { get; init; } = 10000.0;

    /// <summary>YaRN scaling, or null for plain rotary embeddings (<c>rope_scaling</c> / <c>rope_parameters</c>).</summary>
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>Whether rotary features are stored interleaved (even, odd pairs), as DeepSeek's weights are (<c>rope_interleave</c>).</summary>
    public bool RopeInterleave { get; init; } = true;

    /// <summary>Bias on <c>q_a_proj</c>, <c>kv_a_proj_with_mqa</c> and <c>o_proj</c> (<c>attention_bias</c>).</summary>
    public bool AttentionBias { get; init; }

    /// <summary>Whether the output head shares the embedding matrix (<c>tie_word_embeddings</c>); tied heads are not supported, so <see cref="Validate"/> refuses true.</summary>
    public bool TieWordEmbeddings { get; init; }

    /// <summary>Beginning-of-sequence token id (<c>bos_token_id</c>).</summary>
    public int? BosTokenId { get; init; }

    /// <summary>End-of-sequence token id (<c>eos_token_id</c>).</summary>
    public int? EosTokenId { get; init; }

    /// <summary>Padding token id (<c>pad_token_id</c>).</summary>
    public int? PadTokenId { get; init; }

    /// <summary>Depth of multi-token prediction modules, used in training only (<c>num_nextn_predict_layers</c>).</summary>
    public int NumNextnPredictLayers { get; init; }

    /// <summary>Router scores: <c>sigmoid</c> (DeepSeek-V3) or <c>softmax</c> (DeepSeek-V2 / DeepSeekMoE) (<c>scoring_func</c>).</summary>
    public string ScoringFunc { get; init; } = "sigmoid";

    /// <summary>Expert selection: <c>noaux_tc</c> (V3: biased scores, group score = sum of top-2), <c>greedy</c> or
    /// <c>group_limited_greedy</c> (V2: group score = max) (<c>topk_method</c>).</summary>
    public string TopkMethod { get; init; } = "noaux_tc";

    /// <summary>Fields of a read config.json that this class does not model; written back unchanged.</summary>
    public IReadOnlyDictionary<string, JsonNode?> ExtraFields { get; init; } = new Dictionary<string, JsonNode?>();

    /// <summary>Per-head width of queries and keys: <c>qk_nope_head_dim + qk_rope_head_dim</c>.</summary>
    public int QkHeadDim => QkNopeHeadDim + QkRopeHeadDim;

    /// <summary>Whether block <paramref name="layer"/> uses experts (false: dense SwiGLU).</summary>
    public bool IsMoeLayer(int layer) => layer >= FirstKDenseReplace;

    /// <summary>The softmax scale of attention: <c>qk_head_dim^-0.5</c>, times <c>mscale²</c> under YaRN with <c>mscale_all_dim</c>.</summary>
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

    /// <summary>A model of about 3M parameters that trains in minutes on two CPU cores (byte-level vocabulary).</summary>
    public static MoeModelConfig Tiny => new();

    /// <summary>A model of about 30M parameters: bench config <c>tiny</c> (GPU).</summary>
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
        if (RoutingModes.TryParseSelection(TopkMethod) != ExpertSelection.Greedy && NumExpertsPerTok > TopkGroup * perGroup)
            throw new ArgumentException($"Model config field 'num_experts_per_tok' ({NumExpertsPerTok}) exceeds the experts in the kept groups ({TopkGroup} × {perGroup}).", "num_experts_per_tok");
        if (RoutingModes.TryParseScoring(ScoringFunc) == null)
            throw new ArgumentException($"Model config field 'scoring_func' must be 'sigmoid' or 'softmax', got '{ScoringFunc}'.", "scoring_func");
        if (RoutingModes.TryParseSelection(TopkMethod) == null)
            throw new ArgumentException($"Model config field 'topk_method' must be 'noaux_tc', 'greedy' or 'group_limited_greedy', got '{TopkMethod}'.", "topk_method");
        if (RoutingModes.TryParseSelection(TopkMethod) == ExpertSelection.NoAuxTopK && NGroup > 1 && perGroup < 2)
            throw new ArgumentException($"Model config field 'n_group' ({NGroup}) leaves fewer than two experts per group, which 'noaux_tc' group scores need.", "n_group");
    }

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
        var reader = new ConfigJsonReader(root, source);
        // A missing field means DeepseekV3Config's default and a null what transformers makes of it (see
        // DeepseekV3ConfigDefaults); the fields transformers does not know keep this library's defaults.
        var hf = DeepseekV3ConfigDefaults.Values;
        var own = new MoeModelConfig();
        JsonObject? ropeParameters = reader.Object("rope_parameters");
        JsonObject? ropeScalingNode = reader.Object("rope_scaling");
        double topLevelTheta = reader.Double("rope_theta", hf.RopeTheta);
        double ropeTheta = ropeParameters != null && ropeParameters["rope_theta"] != null
            ? new ConfigJsonReader(ropeParameters, source + ": rope_parameters").Double("rope_theta", topLevelTheta)
            : topLevelTheta;
        int maxPositions = reader.Int("max_position_embeddings", hf.MaxPositionEmbeddings);
        RopeScaling? yarn = ReadRopeScaling(ropeScalingNode, source + ": rope_scaling", maxPositions)
            ?? ReadRopeScaling(ropeParameters, source + ": rope_parameters", maxPositions);
        int numAttentionHeads = reader.Int("num_attention_heads", hf.NumAttentionHeads);
        var config = new MoeModelConfig
        {
            VocabSize = reader.Int("vocab_size", hf.VocabSize),
            HiddenSize = reader.Int("hidden_size", hf.HiddenSize),
            IntermediateSize = reader.Int("intermediate_size", hf.IntermediateSize),
            MoeIntermediateSize = reader.Int("moe_intermediate_size", hf.MoeIntermediateSize),
            NumHiddenLayers = reader.Int("num_hidden_layers", hf.NumHiddenLayers),
            NumAttentionHeads = numAttentionHeads,
            NumKeyValueHeads = reader.NullableInt("num_key_value_heads", hf.NumKeyValueHeads) ?? numAttentionHeads,
            NSharedExperts = reader.Int("n_shared_experts", hf.NSharedExperts),
            NRoutedExperts = reader.Int("n_routed_experts", hf.NRoutedExperts),
            RoutedScalingFactor = reader.Double("routed_scaling_factor", hf.RoutedScalingFactor),
            KvLoraRank = reader.Int("kv_lora_rank", hf.KvLoraRank),
            QLoraRank = reader.NullableInt("q_lora_rank", hf.QLoraRank),
            QkRopeHeadDim = reader.Int("qk_rope_head_dim", hf.QkRopeHeadDim),
            VHeadDim = reader.Int("v_head_dim", hf.VHeadDim),
            QkNopeHeadDim = reader.Int("qk_nope_head_dim", hf.QkNopeHeadDim),
            NGroup = reader.Int("n_group", hf.NGroup),
            TopkGroup = reader.Int("topk_group", hf.TopkGroup),
            NumExpertsPerTok = reader.Int("num_experts_per_tok", hf.NumExpertsPerTok),
            FirstKDenseReplace = reader.Int("first_k_dense_replace", hf.FirstKDenseReplace),
            NormTopkProb = reader.Bool("norm_topk_prob", hf.NormTopkProb),
            HiddenAct = reader.String("hidden_act", hf.HiddenAct),
            MaxPositionEmbeddings = maxPositions,
            InitializerRange = reader.Double("initializer_range", hf.InitializerRange),
            RmsNormEps = reader.Double("rms_norm_eps", hf.RmsNormEps),
            RopeTheta = ropeTheta,
            RopeScaling = yarn,
            RopeInterleave = reader.Bool("rope_interleave", hf.RopeInterleave),
            AttentionBias = reader.Bool("attention_bias", hf.AttentionBias),
            TieWordEmbeddings = reader.Bool("tie_word_embeddings", hf.TieWordEmbeddings),
            BosTokenId = reader.NullableInt("bos_token_id", hf.BosTokenId),
            EosTokenId = reader.NullableInt("eos_token_id", hf.EosTokenId),
            PadTokenId = reader.NullableInt("pad_token_id", hf.PadTokenId),
            NumNextnPredictLayers = reader.Int("num_nextn_predict_layers", 0, nullIsMissing: true),
            ScoringFunc = reader.String("scoring_func", own.ScoringFunc, nullIsMissing: true),
            TopkMethod = reader.String("topk_method", own.TopkMethod, nullIsMissing: true),
        };
        var extra = new Dictionary<string, JsonNode?>();
        foreach (var (key, value) in root)
        {
            if (!KnownFields.Contains(key)) extra[key] = value?.DeepClone();
        }
        config = config with { ExtraFields = extra };
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

    private static RopeScaling? ReadRopeScaling(JsonObject? node, string source, int maxPositions)
    {
        if (node == null) return null;
        var reader = new ConfigJsonReader(node, source);
        string type = reader.String("rope_type", reader.String("type", "default"));
        if (type == "default") return null;
        if (type != "yarn") throw new InvalidDataException($"Model config '{source}': rope type '{type}' is not supported (only 'default' and 'yarn').");
        return new RopeScaling
        {
            Factor = reader.Double("factor", 1.0),
            OriginalMaxPositionEmbeddings = reader.Int("original_max_position_embeddings", maxPositions),
            BetaFast = reader.Double("beta_fast", 32),
            BetaSlow = reader.Double("beta_slow", 1),
            MScale = reader.Double("mscale", 1),
            MScaleAllDim = reader.Double("mscale_all_dim", 0),
        };
    }

    private static readonly HashSet<string> KnownFields = new(StringComparer.Ordinal)
    {
        "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "n_shared_experts", "n_routed_experts", "routed_scaling_factor", "kv_lora_rank", "q_lora_rank",
        "qk_rope_head_dim", "v_head_dim", "qk_nope_head_dim", "n_group", "topk_group", "num_experts_per_tok",
        "first_k_dense_replace", "norm_topk_prob", "hidden_act", "max_position_embeddings", "initializer_range", "rms_norm_eps",
        "rope_theta", "rope_scaling", "rope_parameters", "rope_interleave", "attention_bias", "tie_word_embeddings",
        "bos_token_id", "eos_token_id", "pad_token_id", "num_nextn_predict_layers", "scoring_func", "topk_method",
        "qk_head_dim", "head_dim", "model_type", "architectures",
    };

    /// <summary>Writes the config as Hugging Face <c>config.json</c> text (DeepseekV3 names, <c>model_type</c> deepseek_v3).</summary>
    public string ToJson()
    {
        var root = new JsonObject
        {
            ["architectures"] = new JsonArray("DeepseekV3ForCausalLM"),
            ["model_type"] = "deepseek_v3",
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["moe_intermediate_size"] = MoeIntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["n_shared_experts"] = NSharedExperts,
            ["n_routed_experts"] = NRoutedExperts,
            ["routed_scaling_factor"] = FloatNode(RoutedScalingFactor),
            ["kv_lora_rank"] = KvLoraRank,
            ["q_lora_rank"] = QLoraRank,
            ["qk_rope_head_dim"] = QkRopeHeadDim,
            ["v_head_dim"] = VHeadDim,
            ["qk_nope_head_dim"] = QkNopeHeadDim,
            ["qk_head_dim"] = QkHeadDim,
            ["head_dim"] = QkRopeHeadDim,
            ["n_group"] = NGroup,
            ["topk_group"] = TopkGroup,
            ["num_experts_per_tok"] = NumExpertsPerTok,
            ["first_k_dense_replace"] = FirstKDenseReplace,
            ["norm_topk_prob"] = NormTopkProb,
            ["hidden_act"] = HiddenAct,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["initializer_range"] = FloatNode(InitializerRange),
            ["rms_norm_eps"] = FloatNode(RmsNormEps),
            ["rope_theta"] = FloatNode(RopeTheta),
            ["rope_interleave"] = RopeInterleave,
            ["attention_bias"] = AttentionBias,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenId,
            ["pad_token_id"] = PadTokenId,
            ["num_nextn_predict_layers"] = NumNextnPredictLayers,
            ["scoring_func"] = ScoringFunc,
            ["topk_method"] = TopkMethod,
        };
        var ropeParameters = new JsonObject { ["rope_theta"] = FloatNode(RopeTheta), ["rope_type"] = RopeScaling == null ? "default" : "yarn" };
        if (RopeScaling is { } yarn)
        {
            var scaling = new JsonObject
            {
                ["rope_type"] = "yarn",
                ["factor"] = FloatNode(yarn.Factor),
                ["original_max_position_embeddings"] = yarn.OriginalMaxPositionEmbeddings,
                ["beta_fast"] = FloatNode(yarn.BetaFast),
                ["beta_slow"] = FloatNode(yarn.BetaSlow),
                ["mscale"] = FloatNode(yarn.MScale),
                ["mscale_all_dim"] = FloatNode(yarn.MScaleAllDim),
            };
            foreach (var (key, value) in scaling) ropeParameters[key] = value?.DeepClone();
            root["rope_scaling"] = scaling;
        }
        root["rope_parameters"] = ropeParameters;
        foreach (var (key, value) in ExtraFields)
        {
            if (!root.ContainsKey(key)) root[key] = value?.DeepClone();
        }
        // Hugging Face requires the field; a value read from a config (kept in ExtraFields) wins over this default.
        if (!root.ContainsKey("attention_dropout")) root["attention_dropout"] = FloatNode(0.0);
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// A JSON number that reads back as a float in Python: System.Text.Json writes 1.0 as <c>1</c>, which Hugging Face's
    /// strictly typed configs (transformers 5) refuse for float fields, so whole values keep a <c>.0</c>.
    /// </summary>
    private static JsonNode FloatNode(double value)
    {
        if (!double.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "Config float fields must be finite.");
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        if (text.IndexOfAny(['.', 'E', 'e']) < 0) text += ".0";
        return JsonNode.Parse(text)!;
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

    /// <summary>Reads typed fields of a JSON object, naming the file and field when one has the wrong type.</summary>
    private sealed class ConfigJsonReader(JsonObject root, string source)
    {
        private T Read<T>(string field, T fallback, Func<JsonNode, T> convert, bool nullIsMissing = false)
        {
            if (!root.TryGetPropertyValue(field, out JsonNode? node)) return fallback;
            if (node == null)
            {
                if (nullIsMissing) return fallback;
                throw new InvalidDataException($"Model config '{source}': field '{field}' is null; Hugging Face's DeepseekV3Config needs a {typeof(T).Name} there (leave the field out for its default).");
            }
            try
            {
                return convert(node);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
            {
                throw new InvalidDataException($"Model config '{source}': field '{field}' has the wrong type or range ({node.ToJsonString()}); expected {typeof(T).Name}.", e);
            }
        }

        private static int ToInt(JsonNode n) => checked((int)n.GetValue<double>()) is var v && v == n.GetValue<double>() ? v : throw new FormatException();

        public int Int(string field, int fallback, bool nullIsMissing = false) => Read(field, fallback, ToInt, nullIsMissing);

        /// <summary>An int that may be null on purpose (null stays null).</summary>
        public int? NullableInt(string field, int? fallback) => root.TryGetPropertyValue(field, out JsonNode? node) && node == null ? null : Read<int?>(field, fallback, n => ToInt(n));

        public double Double(string field, double fallback) => Read(field, fallback, n => n.GetValue<double>());

        /// <summary>A switch; null reads as false where transformers reads it so (<see cref="DeepseekV3ConfigDefaults.NullMeansFalse"/>).</summary>
        public bool Bool(string field, bool fallback) =>
            root.TryGetPropertyValue(field, out JsonNode? node) && node == null && DeepseekV3ConfigDefaults.NullMeansFalse.Contains(field)
                ? false
                : Read(field, fallback, n => n.GetValue<bool>());

        public string String(string field, string fallback, bool nullIsMissing = false) => Read(field, fallback, n => n.GetValue<string>(), nullIsMissing);

        /// <summary>A nested object; null reads as absent (transformers' rope_parameters and rope_scaling).</summary>
        public JsonObject? Object(string field) => Read<JsonObject?>(field, null, n => n as JsonObject ?? throw new FormatException(), nullIsMissing: true);
    }
}
