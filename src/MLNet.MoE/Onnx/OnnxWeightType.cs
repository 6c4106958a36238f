namespace MLNet.MoE.Onnx;

/// <summary>How the matrices of an exported model are stored.</summary>
public enum OnnxWeightType
{
    /// <summary>float32 everywhere: plain <c>MatMul</c> and float <c>com.microsoft.MoE</c>.</summary>
    Float32,

    /// <summary>Symmetric 8-bit blocks (<c>com.microsoft.MatMulNBits</c>, <c>com.microsoft.QMoE</c>); embeddings, norms and the router stay float32.</summary>
    Int8,

    /// <summary>Symmetric 4-bit blocks (<c>com.microsoft.MatMulNBits</c>, <c>com.microsoft.QMoE</c>); embeddings, norms and the router stay float32.</summary>
    Int4,
}
