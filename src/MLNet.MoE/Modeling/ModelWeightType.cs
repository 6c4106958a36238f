namespace MLNet.MoE;

/// <summary>The floating-point type a model's weights are held or stored in.</summary>
public enum ModelWeightType
{
    /// <summary>32-bit floats: what training from random weights uses, and the exact reference on the CPU.</summary>
    Float32,

    /// <summary>bfloat16: half the memory of float32 with float32's range; what DeepSeek-V3-class checkpoints are published in and what GPUs compute fastest.</summary>
    BFloat16,

    /// <summary>IEEE half precision (float16): half the memory, a narrower range than bfloat16.</summary>
    Float16,
}
