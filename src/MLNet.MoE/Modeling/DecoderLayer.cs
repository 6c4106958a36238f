using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// One pre-norm transformer block (<c>model.layers.{i}</c>): <c>h = x + self_attn(input_layernorm(x))</c>, then
/// <c>h + mlp(post_attention_layernorm(h))</c>, where <c>mlp</c> is a dense SwiGLU in the first
/// <c>first_k_dense_replace</c> blocks and a <see cref="MoeFeedForward"/> after them.
/// </summary>
internal sealed class DecoderLayer : nn.Module
{
    private readonly RmsNorm inputLayerNorm;
    private readonly MultiHeadLatentAttention selfAttention;
    private readonly RmsNorm postAttentionLayerNorm;
    private readonly SwiGluMlp? denseMlp;
    private readonly MoeFeedForward? moeMlp;

    /// <summary>Creates block <paramref name="layerIndex"/>; <paramref name="useExperts"/> picks the MoE feed-forward.</summary>
    public DecoderLayer(MoeModelConfig config, int layerIndex, bool useExperts, TensorPlacement? placement = null) : base(nameof(DecoderLayer))
    {
        inputLayerNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, placement);
        selfAttention = new MultiHeadLatentAttention(config, layerIndex, placement);
        postAttentionLayerNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, placement);
        register_module("input_layernorm", inputLayerNorm);
        register_module("self_attn", selfAttention);
        register_module("post_attention_layernorm", postAttentionLayerNorm);
        if (useExperts)
        {
            moeMlp = new MoeFeedForward(config, layerIndex, placement);
            register_module("mlp", moeMlp);
        }
        else
        {
            denseMlp = new SwiGluMlp(config.HiddenSize, config.IntermediateSize, placement);
            register_module("mlp", denseMlp);
        }
    }

    /// <summary>The MoE feed-forward, or null in a dense block.</summary>
    public MoeFeedForward? Moe => moeMlp;

    /// <summary>The dense SwiGLU feed-forward, or null in an MoE block.</summary>
    public SwiGluMlp? DenseMlp => denseMlp;

    /// <summary>x [B, T, H] → [B, T, H], and the MoE layer's routing in training (null in a dense block or at inference).</summary>
    public (Tensor Hidden, LayerRouting? Routing) Forward(Tensor x, Tensor cos, Tensor sin, RotaryEmbedding rope, ForwardContext context)
    {
        using var scope = torch.NewDisposeScope();
        var h = AttentionWithResidual(x, cos, sin, rope, context);
        var normed = NormBeforeFeedForward(h, context);
        var (mlpOut, routing) = moeMlp != null ? moeMlp.Forward(normed, context) : (denseMlp!.Forward(normed, context), null);
        return ((h + mlpOut).MoveToOuterDisposeScope(), routing?.MoveToOuterDisposeScope());
    }

    /// <summary>The block's first half, <c>x + self_attn(input_layernorm(x))</c>: [B, T, H] → [B, T, H].</summary>
    public Tensor AttentionWithResidual(Tensor x, Tensor cos, Tensor sin, RotaryEmbedding rope, ForwardContext context) =>
        x + selfAttention.Forward(inputLayerNorm.Forward(x, context), cos, sin, rope, context);

    /// <summary>The input of the feed-forward, <c>post_attention_layernorm(h)</c>.</summary>
    public Tensor NormBeforeFeedForward(Tensor h, ForwardContext context) => postAttentionLayerNorm.Forward(h, context);

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
