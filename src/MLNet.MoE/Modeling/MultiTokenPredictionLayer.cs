using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// One DeepSeek-V3 multi-token-prediction module (<c>model.layers.{num_hidden_layers + k}</c>): from the previous
/// depth's hidden state at position i and the embedding of token i+k it predicts token i+k+1:
/// <c>h' = eh_proj([enorm(emb(t_{i+k})); hnorm(h_i)])</c>, one transformer block, then the shared output head after
/// <c>shared_head.norm</c>. The concatenation order and the use of the main model's final-normed hidden states follow
/// the inference engines that load DeepSeek-V3's released MTP weights. Used for the training loss only.
/// </summary>
internal sealed class MultiTokenPredictionLayer : nn.Module
{
    private readonly RmsNorm enorm;
    private readonly RmsNorm hnorm;
    private readonly Linear ehProj;
    private readonly RmsNorm inputLayerNorm;
    private readonly MultiHeadLatentAttention selfAttention;
    private readonly RmsNorm postAttentionLayerNorm;
    private readonly SwiGluMlp? denseMlp;
    private readonly MoeFeedForward? moeMlp;
    private readonly SharedHead sharedHead;

    /// <summary>Creates the module at checkpoint index <paramref name="layerIndex"/> (= num_hidden_layers + k).</summary>
    public MultiTokenPredictionLayer(MoeModelConfig config, int layerIndex, TensorPlacement? placement = null) : base(nameof(MultiTokenPredictionLayer))
    {
        enorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, placement);
        hnorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, placement);
        ehProj = (placement ?? TensorPlacement.Cpu).Linear(2L * config.HiddenSize, config.HiddenSize, hasBias: false);
        inputLayerNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, placement);
        selfAttention = new MultiHeadLatentAttention(config, layerIndex, placement);
        postAttentionLayerNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, placement);
        sharedHead = new SharedHead(config, placement);
        register_module("enorm", enorm);
        register_module("hnorm", hnorm);
        register_module("eh_proj", ehProj);
        register_module("input_layernorm", inputLayerNorm);
        register_module("self_attn", selfAttention);
        register_module("post_attention_layernorm", postAttentionLayerNorm);
        if (config.IsMoeLayer(layerIndex))
        {
            moeMlp = new MoeFeedForward(config, layerIndex, placement);
            register_module("mlp", moeMlp);
        }
        else
        {
            denseMlp = new SwiGluMlp(config.HiddenSize, config.IntermediateSize, placement);
            register_module("mlp", denseMlp);
        }
        register_module("shared_head", sharedHead);
    }

    /// <summary>The MoE feed-forward of the module's block, or null when it is dense.</summary>
    public MoeFeedForward? Moe => moeMlp;

    /// <summary>
    /// hidden [B, T, H] (previous depth) and the embeddings [B, T, H] of the tokens k ahead → the new hidden state
    /// [B, T, H] and, through <paramref name="head"/>, its logits; with the MoE layer's routing in training.
    /// </summary>
    public (Tensor Hidden, Tensor Logits, LayerRouting? Routing) Forward(Tensor hidden, Tensor nextEmbeddings, Tensor cos, Tensor sin, RotaryEmbedding rope, Linear head, ForwardContext context)
    {
        using var scope = torch.NewDisposeScope();
        var (h, headInput, routing) = ForwardToHead(hidden, nextEmbeddings, cos, sin, rope, context);
        var logits = head.Project(headInput);
        return (h.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope(), routing?.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// As <see cref="Forward"/>, but stops before the output head: the new hidden state [B, T, H] and what the head
    /// reads, <c>shared_head.norm</c> of it [B, T, H] (for a loss that computes the head itself, in chunks).
    /// </summary>
    internal (Tensor Hidden, Tensor HeadInput, LayerRouting? Routing) ForwardToHead(Tensor hidden, Tensor nextEmbeddings, Tensor cos, Tensor sin, RotaryEmbedding rope, ForwardContext context)
    {
        using var scope = torch.NewDisposeScope();
        var kernels = context.Kernels;
        var x = ehProj.Project(torch.cat(new[] { enorm.Forward(nextEmbeddings, kernels), hnorm.Forward(hidden, kernels) }, dim: -1));
        var h = x + selfAttention.Forward(inputLayerNorm.Forward(x, kernels), cos, sin, rope, context);
        var normed = postAttentionLayerNorm.Forward(h, kernels);
        var (mlpOut, routing) = moeMlp != null ? moeMlp.Forward(normed, context) : (denseMlp!.Forward(normed, kernels), null);
        h = h + mlpOut;
        var headInput = sharedHead.Norm.Forward(h, kernels);
        return (h.MoveToOuterDisposeScope(), headInput.MoveToOuterDisposeScope(), routing?.MoveToOuterDisposeScope());
    }

    /// <summary>The <c>shared_head</c> of an MTP module: its own norm; the head matrix is the model's <c>lm_head</c>.</summary>
    private sealed class SharedHead : nn.Module
    {
        public SharedHead(MoeModelConfig config, TensorPlacement? placement) : base(nameof(SharedHead))
        {
            Norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, placement);
            register_module("norm", Norm);
        }

        public RmsNorm Norm { get; }

        /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
        protected override void RegisterComponents()
        {
        }
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
