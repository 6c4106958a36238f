using static TorchSharp.torch;

namespace MLNet.MoE.Tests;

/// <summary>Tensor comparisons for the tests: exact, or within an absolute tolerance.</summary>
internal static class TensorAssert
{
    /// <summary>True when both tensors have the same type and shape and equal elements.</summary>
    public static bool Same(Tensor expected, Tensor actual)
    {
        if (expected.dtype != actual.dtype || !expected.shape.SequenceEqual(actual.shape)) return false;
        using Tensor equal = expected.eq(actual).all();
        return equal.item<bool>();
    }

    /// <summary>True when both tensors have the same shape and every element differs by at most <paramref name="tolerance"/> (compared in float32).</summary>
    public static bool Close(Tensor expected, Tensor actual, double tolerance)
    {
        if (!expected.shape.SequenceEqual(actual.shape)) return false;
        using Tensor difference = (expected.detach().to(ScalarType.Float32) - actual.detach().to(ScalarType.Float32)).abs().max();
        return difference.item<float>() <= tolerance;
    }
}
