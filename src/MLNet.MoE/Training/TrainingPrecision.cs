namespace MLNet.MoE;

/// <summary>The dtype training computes activations in. Weights and optimizer state are always float32.</summary>
public enum TrainingPrecision
{
    /// <summary>bfloat16 on CUDA, float32 on the CPU.</summary>
    Auto,

    /// <summary>float32 everywhere.</summary>
    Float32,

    /// <summary>bfloat16 activations over float32 master weights (CPU supports it too, slowly).</summary>
    BFloat16,
}
