using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// A low-rank adapter on one frozen projection, as PEFT's LoRA: <c>y = x·Wᵀ + (α/r) · dropout(x)·Aᵀ·Bᵀ</c> with
/// <c>lora_A</c> [r, in] drawn as PEFT draws it (Kaiming-uniform, bound 1/√in) and <c>lora_B</c> [out, r] zero, so a new
/// adapter leaves the model's function unchanged. The factors are float32 (what the optimizer updates) on the base
/// weight's device and are cast to the activations' type in each call; the frozen weight is never merged or written.
/// </summary>
internal sealed class LoraLinearAdapter : IDisposable
{
    /// <summary>Creates the factors for a projection of <paramref name="inFeatures"/> → <paramref name="outFeatures"/> on <paramref name="device"/>, drawn from the CPU <paramref name="generator"/>.</summary>
    public LoraLinearAdapter(long inFeatures, long outFeatures, int rank, double scaling, double dropout, Device device, Generator generator)
    {
        double bound = 1 / Math.Sqrt(inFeatures);
        using (torch.no_grad())
        {
            // Drawn with the CPU generator (TorchSharp's generators are CPU ones), then placed on the device.
            A = new Parameter(torch.empty(rank, inFeatures, dtype: ScalarType.Float32).uniform_(-bound, bound, generator).to(device));
            B = new Parameter(torch.zeros(outFeatures, rank, dtype: ScalarType.Float32, device: device));
        }
        Scaling = scaling;
        Dropout = dropout;
    }

    /// <summary><c>lora_A</c> [r, in].</summary>
    public Parameter A { get; }

    /// <summary><c>lora_B</c> [out, r].</summary>
    public Parameter B { get; }

    /// <summary>α / r.</summary>
    public double Scaling { get; }

    /// <summary>Dropout on the adapter's input in training.</summary>
    public double Dropout { get; }

    /// <summary>The adapter's addition to the projection of x [..., in] → [..., out], in x's type.</summary>
    public Tensor Delta(Tensor x, bool training)
    {
        var input = training && Dropout > 0 ? nn.functional.dropout(x, Dropout, training: true) : x;
        var down = nn.functional.linear(input, A.to(x.dtype));
        return nn.functional.linear(down, B.to(x.dtype)) * Scaling;
    }

    /// <summary>(α/r)·B·A [out, in] in float32: what merging adds to the frozen weight.</summary>
    public Tensor MergedDelta() => B.detach().matmul(A.detach()) * Scaling;

    /// <summary>Frees the factors.</summary>
    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
