using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Rotary position embedding of the decoupled query/key part (width <c>qk_rope_head_dim</c>), with optional YaRN
/// scaling, in Hugging Face's layout: cos/sin of width d hold the frequencies twice, and <c>rope_interleave</c>
/// inputs (DeepSeek's adjacent pairs) are first reordered to even-then-odd features before rotate-half.
/// </summary>
internal sealed class RotaryEmbedding : nn.Module
{
    private readonly double attentionFactor;
    private readonly bool interleaved;

    /// <summary>Creates the embedding for a model config.</summary>
    public RotaryEmbedding(MoeModelConfig config) : base(nameof(RotaryEmbedding))
    {
        int dim = config.QkRopeHeadDim;
        interleaved = config.RopeInterleave;
        if (config.RopeScaling is { } yarn)
        {
            register_buffer("inv_freq", torch.tensor(yarn.InverseFrequencies(dim, config.RopeTheta)).to(ScalarType.Float32), persistent: false);
            attentionFactor = yarn.AttentionFactor;
        }
        else
        {
            // Same float32 arithmetic as Hugging Face: 1 / theta^(arange(0, d, 2) / d).
            using var exponents = torch.arange(0, dim, 2, dtype: ScalarType.Int64).to(ScalarType.Float32) / dim;
            using var powers = torch.pow(torch.tensor((float)config.RopeTheta), exponents);
            register_buffer("inv_freq", 1.0f / powers, persistent: false);
            attentionFactor = 1.0;
        }
    }

    /// <summary>cos and sin for the given positions: each [T, d] in float32.</summary>
    public (Tensor Cos, Tensor Sin) CosSin(Tensor positions)
    {
        using var scope = torch.NewDisposeScope();
        var freqs = positions.to(ScalarType.Float32).unsqueeze(1) * get_buffer("inv_freq")!.to(positions.device).unsqueeze(0);
        var emb = torch.cat(new[] { freqs, freqs }, dim: -1);
        var cos = emb.cos();
        var sin = emb.sin();
        if (attentionFactor != 1.0)
        {
            cos = cos * attentionFactor;
            sin = sin * attentionFactor;
        }
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>Rotates x [B, heads, T, d] by cos/sin [T, d].</summary>
    public Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = torch.NewDisposeScope();
        long d = x.shape[^1];
        if (interleaved)
        {
            var shape = x.shape;
            x = x.reshape(shape[0], shape[1], shape[2], d / 2, 2).transpose(4, 3).reshape(shape);
        }
        var x1 = x.narrow(-1, 0, d / 2);
        var x2 = x.narrow(-1, d / 2, d / 2);
        var rotated = torch.cat(new[] { -x2, x1 }, dim: -1);
        var result = x * cos.to(x.dtype) + rotated * sin.to(x.dtype);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
