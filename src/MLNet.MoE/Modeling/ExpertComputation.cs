namespace MLNet.MoE;

/// <summary>How <see cref="RoutedExperts"/> computes its assignments (the resolved form of <see cref="ExpertDispatch"/>).</summary>
internal enum ExpertComputation
{
    /// <summary>
    /// Training: a capacity-padded buffer and a batched product, dropping assignments over capacity. Inference: the
    /// same buffer sized to the largest load on CUDA (nothing dropped), exact per-expert segments on the CPU.
    /// </summary>
    CapacityPadded,

    /// <summary>Each expert multiplies exactly its own tokens, in training too (reads the loads on the host: meant for the CPU).</summary>
    ExactSegments,

    /// <summary>Two grouped GEMMs over the tokens sorted by expert (<c>torch._grouped_mm</c>; CUDA), in training and inference.</summary>
    GroupedGemm,
}
