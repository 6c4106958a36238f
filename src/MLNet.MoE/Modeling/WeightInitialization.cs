namespace MLNet.MoE;

/// <summary>How a freshly created model draws its random weights. Weights loaded from a zip, a checkpoint or a Hugging
/// Face folder are never re-drawn.</summary>
public enum WeightInitialization
{
    /// <summary>
    /// As Hugging Face's <c>DeepseekV3PreTrainedModel</c>: every matrix (embedding and experts included) N(0,
    /// <c>initializer_range</c>), norms 1, routing bias 0. Tuned for DeepSeek-V3's width (7168), where 0.02 is close to
    /// 1/√fan-in.
    /// </summary>
    HuggingFace,

    /// <summary>
    /// Scaled to each matrix's fan-in, as PyTorch's layers draw by default: linear layers U(±1/√fan-in), stacked expert
    /// matrices N(0, 1/fan-in), the token embedding N(0, 1); norms 1, routing bias 0. With small widths this keeps each
    /// token's embedding, rather than the blocks' near-uniform early outputs, dominant in the residual stream at the
    /// start, so the router sees distinct tokens.
    /// </summary>
    FanIn,

    /// <summary>
    /// As <see cref="HuggingFace"/>, except the token embedding: N(0, 1). Each token's embedding then dominates the
    /// residual stream at the start, so the router sees distinct tokens, while every other matrix keeps Hugging Face's
    /// scale.
    /// </summary>
    UnitEmbedding,
}
