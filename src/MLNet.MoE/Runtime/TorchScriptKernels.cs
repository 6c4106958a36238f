using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The fused kernels: ATen operators TorchSharp 0.107 does not bind (<c>rms_norm</c>, <c>_fused_adamw_</c>,
/// <c>_grouped_mm</c>) and short op sequences worth one native call, compiled from TorchScript by libtorch at run time
/// (<c>torch.jit.compile</c>). Each kernel's source is compiled once, on first use, and its compilation unit kept for
/// the life of this object; the process shares <see cref="Shared"/>, so every kernel compiles once per process.
/// Invoking a kernel costs one native call; gradients flow through it as through any TorchSharp op.
/// Which kernels a training run uses is decided by <c>KernelSelection</c> (a start-up probe), never here.
/// </summary>
internal sealed class TorchScriptKernels
{
    private static readonly Lazy<TorchScriptKernels> SharedKernels = new(() => new TorchScriptKernels(), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Dictionary<KernelOp, Lazy<jit.CompilationUnit>> units = new();

    /// <summary>Kernels compiled from <see cref="TorchScriptKernelSources"/>, with <paramref name="sources"/> replacing some (tests inject failing kernels this way).</summary>
    public TorchScriptKernels(IReadOnlyDictionary<KernelOp, string>? sources = null)
    {
        foreach (var op in Enum.GetValues<KernelOp>())
        {
            string source = sources != null && sources.TryGetValue(op, out var replacement) ? replacement : TorchScriptKernelSources.For(op);
            // The parser needs a line end after the last statement (C# raw strings drop it). A compilation that failed
            // fails again the same way (Lazy keeps the exception), without recompiling.
            units[op] = new Lazy<jit.CompilationUnit>(() => jit.compile(source.EndsWith('\n') ? source : source + "\n"), LazyThreadSafetyMode.ExecutionAndPublication);
        }
    }

    /// <summary>The kernels of this process, compiled from the built-in sources.</summary>
    public static TorchScriptKernels Shared => SharedKernels.Value;

    /// <summary>Compiles <paramref name="op"/>'s source if that has not happened yet; throws when libtorch refuses it.</summary>
    public void Compile(KernelOp op) => _ = units[op].Value;

    private jit.CompilationUnit Unit(KernelOp op) => units[op].Value;

    /// <summary>
    /// Invokes <paramref name="function"/> of <paramref name="op"/>'s unit. TorchSharp turns a <see cref="double"/>
    /// argument into a temporary <see cref="Scalar"/> and passes on only its native handle, so a garbage collection during
    /// the native call could finalize that Scalar and free it under libtorch (seen as "Expected false to be true" from
    /// <c>c10::Scalar::toLong</c>); doubles are therefore passed as Scalars held here until the call has returned.
    /// </summary>
    private object Invoke(KernelOp op, string function, params object[] arguments)
    {
        if (!arguments.Any(a => a is double)) return Unit(op).invoke(function, arguments);
        var passed = (object[])arguments.Clone();
        var owned = new List<Scalar>();
        try
        {
            for (int i = 0; i < passed.Length; i++)
            {
                if (passed[i] is not double value) continue;
                var scalar = value.ToScalar();
                owned.Add(scalar);
                passed[i] = scalar;
            }
            return Unit(op).invoke(function, passed);
        }
        finally
        {
            GC.KeepAlive(passed);
            foreach (var scalar in owned) scalar.Dispose();
        }
    }

    /// <summary><c>torch.rms_norm</c> over the last dimension of x [..., D] with weight [D] (x's dtype).</summary>
    public Tensor RmsNorm(Tensor x, Tensor weight, double eps) =>
        (Tensor)Invoke(KernelOp.RmsNorm, "rms_norm", x, weight, eps);

    /// <summary>silu(gate) · up for gate_up [..., 2·I] (gate first) → [..., I].</summary>
    public Tensor SwiGlu(Tensor gateUp) =>
        (Tensor)Invoke(KernelOp.SwiGlu, "swiglu", gateUp);

    /// <summary>
    /// Mean cross-entropy of hidden [N, H] · weight [V, H]ᵀ against targets [N] in chunks of <paramref name="chunkRows"/>
    /// rows; with <paramref name="withGradients"/> also d loss / d hidden [N, H] and d loss / d weight [V, H] (float32),
    /// else two empty tensors. Call it without autograd recording: the gradients are the caller's to apply.
    /// </summary>
    public (Tensor Loss, Tensor HiddenGradient, Tensor WeightGradient) LinearCrossEntropy(Tensor hidden, Tensor weight, Tensor targets, int chunkRows, bool withGradients) =>
        ((Tensor, Tensor, Tensor))Invoke(KernelOp.LinearCrossEntropy, "linear_cross_entropy", hidden, weight, targets, chunkRows, withGradients);

    /// <summary>Counts one optimizer step on the device scalar <paramref name="step"/> (before the groups' updates).</summary>
    public void AdamWBegin(Tensor step) =>
        Invoke(KernelOp.AdamW, "adamw_begin", new object[] { new[] { step } });

    /// <summary>
    /// One fused AdamW update of a group's flat buffers; gradients are divided by <paramref name="gradientScale"/> and
    /// nothing changes when <paramref name="foundInfinite"/> (float32 device scalar) is 1.
    /// </summary>
    public void AdamWGroup(Tensor parameters, Tensor gradients, Tensor expAvg, Tensor expAvgSq, Tensor step, double learningRate,
        double beta1, double beta2, double weightDecay, double eps, Tensor gradientScale, Tensor foundInfinite) =>
        Invoke(KernelOp.AdamW, "adamw_group", new[] { parameters }, new[] { gradients }, new[] { expAvg }, new[] { expAvgSq }, new[] { step },
            learningRate, beta1, beta2, weightDecay, eps, gradientScale, foundInfinite);

    /// <summary>Takes back the step counted by <see cref="AdamWBegin"/> when it was skipped (<paramref name="foundInfinite"/> is 1).</summary>
    public void AdamWEnd(Tensor step, Tensor foundInfinite) =>
        Invoke(KernelOp.AdamW, "adamw_end", step, foundInfinite);

    /// <summary>
    /// The routed SwiGLU experts with two grouped GEMMs: x [ΣT, H] sorted by expert, gate_up [E, 2·I, H] and down
    /// [E, H, I] in x's dtype, offsets [E] int32 (cumulative row ends) → [ΣT, H].
    /// </summary>
    public Tensor GroupedSwiGluExperts(Tensor x, Tensor gateUp, Tensor down, Tensor offsets) =>
        (Tensor)Invoke(KernelOp.GroupedMm, "grouped_swiglu_experts", x, gateUp, down, offsets);

    /// <summary>
    /// <see cref="GroupedSwiGluExperts"/> with LoRA factors beside the frozen weights: gate_up gets
    /// (x·gateUpAᵀ)·gateUpBᵀ·<paramref name="scaling"/> (A [E, r', H], B [E, 2·I, r']) and down likewise (A [E, r, I],
    /// B [E, H, r]), all in x's dtype. Gradients reach x and the factors; the weights get none unless they require it.
    /// </summary>
    public Tensor GroupedSwiGluExpertsWithLora(Tensor x, Tensor gateUp, Tensor down, Tensor offsets, Tensor gateUpA, Tensor gateUpB, Tensor downA, Tensor downB, double scaling) =>
        (Tensor)Invoke(KernelOp.GroupedMm, "grouped_swiglu_experts_lora", x, gateUp, down, offsets, gateUpA, gateUpB, downA, downB, scaling);
}
