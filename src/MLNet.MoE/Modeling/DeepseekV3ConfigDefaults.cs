namespace MLNet.MoE;

/// <summary>
/// What Hugging Face transformers (5.17, <c>DeepseekV3Config</c>) makes of a <c>config.json</c> field that is missing or
/// null, so that a file means the same model here as there.
/// </summary>
/// <remarks>
/// <para>A missing field takes the value below (DeepSeek-V3's own sizes), not a default of this library: a config that
/// leaves out <c>hidden_size</c> describes a 7,168-wide model, and its weights are then checked against that.</para>
/// <para>A null field: transformers gives null a meaning only for <c>q_lora_rank</c> (no query compression),
/// <c>num_key_value_heads</c> (the attention heads), <c>rope_parameters</c> and <c>rope_scaling</c> (plain rotary
/// embeddings with <c>rope_theta</c> from the top level, else 10,000), the token ids (none), and two switches it
/// reads as false (<c>norm_topk_prob</c>, <c>rope_interleave</c>). Every other null is refused by its typed config or
/// fails in its model, and is refused here with the field's name.</para>
/// </remarks>
internal static class DeepseekV3ConfigDefaults
{
    /// <summary>The values of <c>DeepseekV3Config()</c>'s arguments.</summary>
    public static MoeModelConfig Values { get; } = new()
    {
        VocabSize = 129280,
        HiddenSize = 7168,
        IntermediateSize = 18432,
        MoeIntermediateSize = 2048,
        NumHiddenLayers = 61,
        NumAttentionHeads = 128,
        NumKeyValueHeads = 128,
        NSharedExperts = 1,
        NRoutedExperts = 256,
        RoutedScalingFactor = 2.5,
        KvLoraRank = 512,
        QLoraRank = 1536,
        QkRopeHeadDim = 64,
        VHeadDim = 128,
        QkNopeHeadDim = 128,
        NGroup = 8,
        TopkGroup = 4,
        NumExpertsPerTok = 8,
        FirstKDenseReplace = 3,
        NormTopkProb = true,
        HiddenAct = "silu",
        MaxPositionEmbeddings = 4096,
        InitializerRange = 0.02,
        RmsNormEps = 1e-6,
        RopeTheta = 10000.0,
        RopeInterleave = true,
        AttentionBias = false,
        TieWordEmbeddings = false,
        BosTokenId = 0,
        EosTokenId = 1,
        PadTokenId = null,
    };

    /// <summary>Fields whose null transformers reads as false.</summary>
    public static IReadOnlySet<string> NullMeansFalse { get; } = new HashSet<string>(StringComparer.Ordinal) { "norm_topk_prob", "rope_interleave" };
}
