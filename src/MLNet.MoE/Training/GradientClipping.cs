using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE.Training;

/// <summary>Global-norm gradient clipping over separate parameter tensors, computed on the device (no host synchronisation).</summary>
internal static class GradientClipping
{
    /// <summary>Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/>.</summary>
    public static void ClipGradientNorm(IReadOnlyList<Parameter> parameters, double maxNorm)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0) return;
        var norm = torch.linalg.vector_norm(torch.stack(grads.Select(g => torch.linalg.vector_norm(g.to(ScalarType.Float32), 2, Array.Empty<long>(), false)).ToArray()), 2, new long[] { 0 }, false);
        var coefficient = (maxNorm / (norm + 1e-6)).clamp_max(1.0);
        foreach (var g in grads) g.mul_(coefficient.to(g.dtype));
    }
}
