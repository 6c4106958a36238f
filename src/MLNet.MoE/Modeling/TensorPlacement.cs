using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Where a model's weights are created and in which floating-point type: the CPU in float32 by default. A checkpoint
/// loaded in bfloat16 for a GPU creates its weights there, in bfloat16, and streams the file's tensors into them, so no
/// float32 copy of the model ever exists in host memory. The router's selection bias and the rotary tables stay float32
/// whatever the weight type (they are tiny and their precision matters).
/// </summary>
internal sealed record TensorPlacement(Device Device, ScalarType WeightType)
{
    /// <summary>Float32 weights on the CPU: what models trained from random weights start with.</summary>
    public static TensorPlacement Cpu { get; } = new(torch.CPU, ScalarType.Float32);

    /// <summary>Bytes of one weight element.</summary>
    public int ElementSize => WeightType switch
    {
        ScalarType.Float32 => 4,
        ScalarType.BFloat16 or ScalarType.Float16 => 2,
        var other => throw new ArgumentOutOfRangeException(nameof(WeightType), other, "Model weights are Float32, BFloat16 or Float16."),
    };

    /// <summary>An uninitialised weight tensor of <paramref name="shape"/> (filled by initialisation or a checkpoint).</summary>
    public Tensor Empty(params long[] shape) => torch.empty(shape, dtype: WeightType, device: Device);

    /// <summary>A norm scale of ones.</summary>
    public Tensor Ones(long size) => torch.ones(size, dtype: WeightType, device: Device);

    /// <summary>A float32 tensor of zeros on the device (routing biases).</summary>
    public Tensor Float32Zeros(long size) => torch.zeros(size, dtype: ScalarType.Float32, device: Device);

    /// <summary>A projection <c>x · Wᵀ (+ b)</c> whose weights live here.</summary>
    public Linear Linear(long inFeatures, long outFeatures, bool hasBias) => nn.Linear(inFeatures, outFeatures, hasBias, device: Device, dtype: WeightType);

    /// <summary>A token embedding whose table lives here.</summary>
    public Embedding Embedding(long count, long width) => nn.Embedding(count, width, device: Device, dtype: WeightType);
}
