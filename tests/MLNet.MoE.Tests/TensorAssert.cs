using static TorchSharp.torch;

namespace MLNet.MoE.Tests;

/// <summary>Exact tensor comparisons for the tests.</summary>
internal static class TensorAssert
{
    /// <summary>True when both tensors have the same type and shape and equal elements.</summary>
    public static bool Same(Tensor expected, Tensor actual)
    {
        if (expected.dtype != actual.dtype || !expected.shape.SequenceEqual(actual.shape)) return false;
        using Tensor equal = expected.eq(actual).all();
        return equal.item<bool>();
    }
}
