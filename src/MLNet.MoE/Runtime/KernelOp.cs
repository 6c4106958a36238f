namespace MLNet.MoE;

/// <summary>The operations that have a fused TorchScript kernel beside their managed TorchSharp code.</summary>
internal enum KernelOp
{
    /// <summary><c>torch.rms_norm</c> (forward and backward) for every RMSNorm.</summary>
    RmsNorm,

    /// <summary>SwiGLU <c>silu(gate) · up</c> as one call over a fused gate-and-up projection (one GEMM instead of two in the MLPs).</summary>
    SwiGlu,

    /// <summary>The output head's linear layer and cross-entropy over row chunks: no float32 logits for the whole batch.</summary>
    LinearCrossEntropy,

    /// <summary><c>torch._fused_adamw_</c>, one call per parameter group.</summary>
    AdamW,

    /// <summary><c>torch._grouped_mm</c> for dropless routed experts (CUDA).</summary>
    GroupedMm,
}
