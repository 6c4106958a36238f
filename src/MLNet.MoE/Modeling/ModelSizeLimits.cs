namespace MLNet.MoE;

/// <summary>
/// The largest sizes a model config may declare. A config read from a file is checked against them (in
/// <see cref="MoeModelConfig.Validate"/>) before any tensor, or the list of the tensors the model expects, is built, so
/// a damaged or hostile file cannot make a loader allocate without bound. The defaults lie orders of magnitude beyond
/// any DeepSeek model; raise one through <see cref="Default"/> for a larger model.
/// </summary>
public sealed record ModelSizeLimits
{
    /// <summary>The limits every config is checked against; replace to raise or lower them for the whole process.</summary>
    public static ModelSizeLimits Default { get; set; } = new();

    /// <summary>Most token ids (<c>vocab_size</c>): 16,777,216.</summary>
    public int VocabSize { get; init; } = 1 << 24;

    /// <summary>Widest residual stream (<c>hidden_size</c>): 65,536.</summary>
    public int HiddenSize { get; init; } = 1 << 16;

    /// <summary>Widest dense or expert SwiGLU (<c>intermediate_size</c>, <c>moe_intermediate_size</c>): 1,048,576.</summary>
    public int IntermediateSize { get; init; } = 1 << 20;

    /// <summary>Most transformer blocks (<c>num_hidden_layers</c>): 1,024.</summary>
    public int Layers { get; init; } = 1024;

    /// <summary>Most multi-token-prediction blocks (<c>num_nextn_predict_layers</c>): 16.</summary>
    public int PredictionLayers { get; init; } = 16;

    /// <summary>Most attention heads (<c>num_attention_heads</c>): 1,024.</summary>
    public int AttentionHeads { get; init; } = 1024;

    /// <summary>Largest latent rank (<c>kv_lora_rank</c>, <c>q_lora_rank</c>): 65,536.</summary>
    public int LatentRank { get; init; } = 1 << 16;

    /// <summary>Widest per-head part (<c>qk_rope_head_dim</c>, <c>qk_nope_head_dim</c>, <c>v_head_dim</c>): 4,096.</summary>
    public int HeadDim { get; init; } = 4096;

    /// <summary>Longest context (<c>max_position_embeddings</c>): 16,777,216.</summary>
    public int Positions { get; init; } = 1 << 24;

    /// <summary>Most routed experts per block (<c>n_routed_experts</c>): 16,384.</summary>
    public int RoutedExperts { get; init; } = 1 << 14;

    /// <summary>Most shared experts per block (<c>n_shared_experts</c>): 64.</summary>
    public int SharedExperts { get; init; } = 64;
}
