using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE.Modeling;

/// <summary>Root-mean-square normalisation with a learned scale, computed in float32 (TorchSharp has no RMSNorm module).</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly double eps;

    /// <summary>Creates the norm over the last dimension of width <paramref name="size"/>.</summary>
    public RmsNorm(long size, double eps) : base(nameof(RmsNorm))
    {
        this.eps = eps;
        register_parameter("weight", new Parameter(torch.ones(size)));
    }

    /// <summary>The learned scale, shape [size]. Looked up on each use: moving the module to a device replaces it.</summary>
    public Parameter Weight => get_parameter("weight")!;

    private Tensor WeightAs(ScalarType dtype)
    {
        var weight = Weight;
        return weight.dtype == dtype ? weight : weight.to(dtype);
    }

    /// <summary>x · rsqrt(mean(x²) + eps) · weight; x [..., size].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = x.to(ScalarType.Float32);
        var variance = h.pow(2).mean(new long[] { -1 }, keepdim: true);
        h = h * torch.rsqrt(variance + eps);
        return (WeightAs(x.dtype) * h.to(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
