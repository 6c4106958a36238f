namespace MLNet.MoE;

/// <summary>How the routed experts of a MoE block are expressed in the exported graph.</summary>
public enum OnnxExpertKernel
{
    /// <summary>
    /// ONNX Runtime's fused <c>com.microsoft.MoE</c> (<c>QMoE</c> when quantized) with interleaved SwiGLU weights. Its
    /// softmax routing is fed DeepSeek's weights as logarithms, so the routing rule itself stays in standard ops.
    /// </summary>
    MoeOperator,

    /// <summary>
    /// Standard ONNX operators only (every expert evaluated for every token, weighted by a dense routing matrix): for
    /// runtimes without the contrib operators. Float32 only; slower when there are many experts.
    /// </summary>
    StandardOperators,
}
