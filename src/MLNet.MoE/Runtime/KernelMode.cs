namespace MLNet.MoE;

/// <summary>
/// Which implementation training uses for the operations that have a fused kernel (RMSNorm, SwiGLU, the output head's
/// linear + cross-entropy, AdamW, and the routed experts' grouped GEMM): ATen operators reached through TorchScript
/// compiled at run time, or plain TorchSharp code. Both compute the same results; the fused kernels are faster.
/// </summary>
public enum KernelMode
{
    /// <summary>
    /// Probe each fused kernel once at start-up on the training device (compile it, run it on a tiny tensor and compare
    /// it with the managed code); a kernel that fails switches that operation to the managed code, with one warning.
    /// </summary>
    Auto,

    /// <summary>The fused kernels; training fails before it starts, naming the kernel, when one cannot run on the device.</summary>
    Fused,

    /// <summary>The managed TorchSharp code for every operation (no TorchScript).</summary>
    Managed,
}
