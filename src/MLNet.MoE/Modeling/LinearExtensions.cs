using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Mixed precision without autocast (TorchSharp has none): parameters stay float32 (the master copy the optimizer
/// updates) and each projection casts its weight to the dtype of its input, so a bfloat16 activation stream computes
/// in bfloat16 while gradients flow back to the float32 weights through the cast. For float32 inputs the cast is free.
/// </summary>
internal static class LinearExtensions
{
    /// <summary>
    /// x · Wᵀ (+ b) in the dtype of <paramref name="x"/>, plus the LoRA adapter of this projection when
    /// <paramref name="context"/> carries one.
    /// </summary>
    public static Tensor Project(this Linear linear, Tensor x, ForwardContext context) => linear.Project(x, context.Adapters, context.Training);

    /// <summary>x · Wᵀ (+ b) in the dtype of <paramref name="x"/>, plus this projection's adapter among <paramref name="adapters"/> when it has one.</summary>
    public static Tensor Project(this Linear linear, Tensor x, LoraAdapters? adapters, bool training)
    {
        var y = linear.Project(x);
        return adapters?.For(linear) is { } adapter ? y + adapter.Delta(x, training) : y;
    }

    /// <summary>x · Wᵀ (+ b) in the dtype of <paramref name="x"/>.</summary>
    public static Tensor Project(this Linear linear, Tensor x)
    {
        var weight = linear.weight!;
        var bias = linear.bias;
        return nn.functional.linear(x, weight.dtype == x.dtype ? weight : weight.to(x.dtype), bias is null ? null : bias.dtype == x.dtype ? bias : bias.to(x.dtype));
    }
}
