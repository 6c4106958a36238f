using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// DeepSeek multi-head latent attention (<c>self_attn</c>). Queries come from a low-rank latent
/// (<c>q_a_proj</c> → <c>q_a_layernorm</c> → <c>q_b_proj</c>) or a plain <c>q_proj</c>; keys and values from a shared
/// latent <c>kv_a_proj_with_mqa</c> [H → kv_lora_rank + qk_rope_head_dim] whose last <c>qk_rope_head_dim</c> features are
/// one rotary key shared by all heads, and whose first <c>kv_lora_rank</c> pass <c>kv_a_layernorm</c> → <c>kv_b_proj</c>
/// into per-head non-rotary keys and values. Softmax scale: <c>qk_head_dim^-0.5</c> (× mscale² under YaRN).
/// </summary>
internal sealed class MultiHeadLatentAttention : nn.Module
{
    private readonly MoeModelConfig config;
    private readonly int layerIndex;
    private readonly Linear? qProj;
    private readonly Linear? qAProj;
    private readonly RmsNorm? qALayerNorm;
    private readonly Linear? qBProj;
    private readonly Linear kvAProjWithMqa;
    private readonly RmsNorm kvALayerNorm;
    private readonly Linear kvBProj;
    private readonly Linear oProj;
    private readonly double queryPreScale;

    /// <summary>Creates the attention of block <paramref name="layerIndex"/> (its slot in the KV cache).</summary>
    public MultiHeadLatentAttention(MoeModelConfig config, int layerIndex, TensorPlacement? placement = null) : base(nameof(MultiHeadLatentAttention))
    {
        var where = placement ?? TensorPlacement.Cpu;
        this.config = config;
        this.layerIndex = layerIndex;
        int heads = config.NumAttentionHeads;
        if (config.QLoraRank is int qRank)
        {
            qAProj = where.Linear(config.HiddenSize, qRank, hasBias: config.AttentionBias);
            qALayerNorm = new RmsNorm(qRank, config.RmsNormEps, where);
            qBProj = where.Linear(qRank, (long)heads * config.QkHeadDim, hasBias: false);
            register_module("q_a_proj", qAProj);
            register_module("q_a_layernorm", qALayerNorm);
            register_module("q_b_proj", qBProj);
        }
        else
        {
            qProj = where.Linear(config.HiddenSize, (long)heads * config.QkHeadDim, hasBias: false);
            register_module("q_proj", qProj);
        }
        kvAProjWithMqa = where.Linear(config.HiddenSize, config.KvLoraRank + config.QkRopeHeadDim, hasBias: config.AttentionBias);
        kvALayerNorm = new RmsNorm(config.KvLoraRank, config.RmsNormEps, where);
        kvBProj = where.Linear(config.KvLoraRank, (long)heads * (config.QkNopeHeadDim + config.VHeadDim), hasBias: false);
        oProj = where.Linear((long)heads * config.VHeadDim, config.HiddenSize, hasBias: config.AttentionBias);
        register_module("kv_a_proj_with_mqa", kvAProjWithMqa);
        register_module("kv_a_layernorm", kvALayerNorm);
        register_module("kv_b_proj", kvBProj);
        register_module("o_proj", oProj);
        // scaled_dot_product_attention always scales by qk_head_dim^-0.5; a YaRN mscale² is folded into the queries.
        queryPreScale = config.SoftmaxScale * Math.Sqrt(config.QkHeadDim);
    }

    /// <summary>x [B, T, H] at the positions whose cos/sin [T, d] are given → [B, T, H].</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, RotaryEmbedding rope, ForwardContext context)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0];
        long t = x.shape[1];
        int heads = config.NumAttentionHeads;
        int nope = config.QkNopeHeadDim;
        int ropeDim = config.QkRopeHeadDim;
        var q = qProj != null ? qProj.Project(x, context) : qBProj!.Project(qALayerNorm!.Forward(qAProj!.Project(x, context), context), context);
        q = q.view(b, t, heads, config.QkHeadDim).transpose(1, 2);
        var qPass = q.narrow(-1, 0, nope);
        var qRot = q.narrow(-1, nope, ropeDim);
        var compressed = kvAProjWithMqa.Project(x, context);
        var kPass = compressed.narrow(-1, 0, config.KvLoraRank);
        var kRot = compressed.narrow(-1, config.KvLoraRank, ropeDim);
        var kv = kvBProj.Project(kvALayerNorm.Forward(kPass, context), context).view(b, t, heads, nope + config.VHeadDim).transpose(1, 2);
        kPass = kv.narrow(-1, 0, nope);
        var value = kv.narrow(-1, nope, config.VHeadDim);
        kRot = kRot.view(b, 1, t, ropeDim);
        qRot = rope.Apply(qRot, cos, sin);
        kRot = rope.Apply(kRot, cos, sin).expand(b, heads, t, ropeDim);
        var query = torch.cat(new[] { qPass, qRot }, dim: -1);
        var key = torch.cat(new[] { kPass, kRot }, dim: -1);
        long past = 0;
        if (context.Cache != null)
        {
            past = context.Cache.LengthOf(layerIndex);
            (key, value) = context.Cache.Append(layerIndex, key, value.contiguous());
        }
        if (queryPreScale != 1.0) query = query * queryPreScale;
        Tensor attention;
        if (past == 0 && t > 1)
        {
            attention = nn.functional.scaled_dot_product_attention(query, key, value, is_casual: true);
        }
        else if (t == 1)
        {
            attention = nn.functional.scaled_dot_product_attention(query, key, value);
        }
        else
        {
            // New tokens after cached ones: token i of this pass sees every cached token and new tokens up to i.
            var rows = torch.arange(t, device: x.device).unsqueeze(1) + past;
            var cols = torch.arange(past + t, device: x.device).unsqueeze(0);
            attention = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask: cols <= rows);
        }
        var merged = attention.transpose(1, 2).reshape(b, t, (long)heads * config.VHeadDim);
        return oProj.Project(merged, context).MoveToOuterDisposeScope();
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
