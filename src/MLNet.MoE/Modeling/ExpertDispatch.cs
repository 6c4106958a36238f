namespace MLNet.MoE;

/// <summary>How the routed experts compute their tokens during training.</summary>
public enum ExpertDispatch
{
    /// <summary><see cref="Dropless"/> on CUDA when the grouped GEMM runs there (else <see cref="CapacityPadded"/>, with a warning); <see cref="CapacityPadded"/> on the CPU.</summary>
    Auto,

    /// <summary>
    /// Every token-expert assignment is computed, none dropped, whatever the load. On CUDA: two grouped GEMMs
    /// (<c>torch._grouped_mm</c>) over the tokens sorted by expert; training fails before it starts when they cannot
    /// run there. On the CPU: each expert multiplies exactly its own tokens (the CPU's inference path), which needs no
    /// grouped GEMM. The capacity factor does not apply.
    /// </summary>
    Dropless,

    /// <summary>
    /// Tokens go to a buffer of ⌈capacity factor · mean load⌉ rows per expert and the experts run as one batched matrix
    /// product; assignments over capacity are dropped and counted.
    /// </summary>
    CapacityPadded,
}
