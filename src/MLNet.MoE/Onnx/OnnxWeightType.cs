namespace MLNet.MoE;

/// <summary>How the matrices of an exported model are stored.</summary>
public enum OnnxWeightType
{
    /// <summary>float32 everywhere: plain <c>MatMul</c> and float <c>com.microsoft.MoE</c>.</summary>
    Float32,

    /// <summary>
    /// Matrices (projections, experts, embedding and output head) stored as IEEE float16, half the size of float32, and
    /// cast to float32 when ONNX Runtime loads the model: the arithmetic stays float32, only the weights are rounded.
    /// Norms, biases, the router and the RoPE tables stay float32.
    /// </summary>
    Float16,

    /// <summary>As <see cref="Float16"/>, in bfloat16 (float32's range, 8 bits of mantissa).</summary>
    BFloat16,

    /// <summary>Symmetric 8-bit blocks (<c>com.microsoft.MatMulNBits</c>, <c>com.microsoft.QMoE</c>); embeddings, norms and the router stay float32.</summary>
    Int8,

    /// <summary>Symmetric 4-bit blocks (<c>com.microsoft.MatMulNBits</c>, <c>com.microsoft.QMoE</c>); embeddings, norms and the router stay float32.</summary>
    Int4,
}
