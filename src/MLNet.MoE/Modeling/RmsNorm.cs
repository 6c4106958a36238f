using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Root-mean-square normalisation with a learned scale, computed in float32 (TorchSharp has no RMSNorm module).</summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly double eps;

    /// <summary>Creates the norm over the last dimension of width <paramref name="size"/>.</summary>
    public RmsNorm(long size, double eps, TensorPlacement? placement = null) : base(nameof(RmsNorm))
    {
        this.eps = eps;
        register_parameter("weight", new Parameter((placement ?? TensorPlacement.Cpu).Ones(size)));
    }

    /// <summary>The learned scale, shape [size]. Looked up on each use: moving the module to a device replaces it.</summary>
    public Parameter Weight => get_parameter("weight")!;

    private static Tensor As(Tensor weight, ScalarType dtype) => weight.dtype == dtype ? weight : weight.to(dtype);

    /// <summary>x · rsqrt(mean(x²) + eps) · weight; x [..., size]. The managed code (see <see cref="Forward(Tensor, KernelSet, Tensor?)"/>).</summary>
    public override Tensor forward(Tensor x) => Forward(x, KernelSet.Managed);

    /// <summary>
    /// The norm of a pass: with the context's kernels, and with the scale a LoRA run trains in place of this one's
    /// (<see cref="LoraAdapters.WeightFor(RmsNorm)"/>) when the context's adapters hold one.
    /// </summary>
    public Tensor Forward(Tensor x, ForwardContext context) => Forward(x, context.Kernels, context.Adapters?.WeightFor(this));

    /// <summary>
    /// x · rsqrt(mean(x²) + eps) · weight; x [..., size], with <c>torch.rms_norm</c> when <paramref name="kernels"/> fuses
    /// it; <paramref name="scale"/> [size], when given, replaces the learned scale.
    /// </summary>
    public Tensor Forward(Tensor x, KernelSet kernels, Tensor? scale = null)
    {
        var weight = scale ?? Weight;
        using var scope = torch.NewDisposeScope();
        Tensor result;
        if (kernels.Fused(KernelOp.RmsNorm) is { } fused)
        {
            // One ATen kernel each way; it reduces half-precision inputs in float32 internally.
            result = fused.RmsNorm(x, As(weight, x.dtype), eps);
        }
        else if (x.dtype == ScalarType.Float32)
        {
            // Hugging Face's float32 arithmetic, for exact parity.
            var inverse = torch.rsqrt(x.pow(2).mean(new long[] { -1 }, keepdim: true) + eps);
            result = As(weight, x.dtype) * (x * inverse);
        }
        else
        {
            // Half-precision activations: the norm reduces in float32 inside one kernel (no float32 copy of x), and
            // only the per-row scale is computed in float32.
            long size = x.shape[^1];
            var norm = torch.linalg.vector_norm(x, 2, new long[] { -1 }, true).to(ScalarType.Float32);
            var inverse = torch.rsqrt(norm.pow(2) / size + eps).to(x.dtype);
            result = x * inverse * As(weight, x.dtype);
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
