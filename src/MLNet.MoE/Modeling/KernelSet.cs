
namespace MLNet.MoE;

/// <summary>
/// Which implementation a forward pass and the optimizer use for each operation that has a fused kernel (the fused
/// TorchScript kernel or the managed TorchSharp code), and how the routed experts compute. <see cref="Managed"/>, the
/// default of every <see cref="ForwardContext"/>, is the managed code throughout (Hugging Face's arithmetic, no
/// TorchScript); a training run gets its set from the start-up probe that <c>KernelMode</c> configures.
/// </summary>
internal sealed class KernelSet
{
    private readonly TorchScriptKernels? kernels;
    private readonly HashSet<KernelOp> fused;

    internal KernelSet(TorchScriptKernels? kernels, IEnumerable<KernelOp> fused, ExpertComputation experts)
    {
        this.fused = new HashSet<KernelOp>(fused);
        if (this.fused.Count > 0 && kernels is null) throw new ArgumentNullException(nameof(kernels), "Fused operations need the compiled kernels.");
        // The grouped GEMM is the experts' computation: one is chosen exactly when the other is.
        if (this.fused.Contains(KernelOp.GroupedMm) != (experts == ExpertComputation.GroupedGemm))
            throw new ArgumentException($"Experts computed by {experts} do not match a {(this.fused.Contains(KernelOp.GroupedMm) ? "fused" : "managed")} GroupedMm.", nameof(experts));
        this.kernels = kernels;
        Experts = experts;
    }

    /// <summary>The managed TorchSharp code for every operation; capacity-padded experts.</summary>
    public static KernelSet Managed { get; } = new(null, Array.Empty<KernelOp>(), ExpertComputation.CapacityPadded);

    /// <summary>How the routed experts compute their assignments.</summary>
    public ExpertComputation Experts { get; }

    /// <summary>Whether <paramref name="op"/> runs its fused kernel (else its managed code).</summary>
    public bool IsFused(KernelOp op) => fused.Contains(op);

    /// <summary>The compiled kernels when <paramref name="op"/> runs fused, else null (run the managed code).</summary>
    internal TorchScriptKernels? Fused(KernelOp op) => fused.Contains(op) ? kernels : null;

    /// <summary>The same kernels with the routed experts computed by <paramref name="experts"/> (never the grouped GEMM: that one comes from the probe).</summary>
    internal KernelSet WithExperts(ExpertComputation experts) =>
        new(kernels, fused.Where(op => op != KernelOp.GroupedMm), experts);

    /// <summary>Each operation's path, e.g. <c>RmsNorm=Fused, SwiGlu=Fused, LinearCrossEntropy=Fused, AdamW=Fused, Experts=GroupedGemm</c>.</summary>
    public override string ToString() =>
        string.Join(", ", Enum.GetValues<KernelOp>().Where(op => op != KernelOp.GroupedMm).Select(op => $"{op}={(IsFused(op) ? "Fused" : "Managed")}"))
        + $", Experts={Experts}";
}
