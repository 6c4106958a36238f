using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Chooses a training run's kernels once, at start-up, on the training device: each fused kernel is compiled (once per
/// process) and run on tiny tensors, forward and backward, in the run's compute dtype, and its results are compared
/// with the managed code's. A kernel that throws or disagrees is not used, so a libtorch build or device that lacks
/// an operator, refuses a layout or computes it differently never gives silently wrong training: under
/// <see cref="KernelMode.Auto"/> that operation runs the managed code and the failure is reported in
/// <see cref="Fallbacks"/>; under <see cref="KernelMode.Fused"/> this throws before training. It also resolves
/// <see cref="ExpertDispatch"/> into the experts' computation.
/// </summary>
internal sealed class KernelSelection
{
    private KernelSelection(KernelSet kernels, IReadOnlyDictionary<KernelOp, string> fallbacks)
    {
        Kernels = kernels;
        Fallbacks = fallbacks;
    }

    /// <summary>The kernels the run uses.</summary>
    public KernelSet Kernels { get; }

    /// <summary>Each fused kernel that failed its probe under <see cref="KernelMode.Auto"/>, with the reason (its operation runs the managed code).</summary>
    public IReadOnlyDictionary<KernelOp, string> Fallbacks { get; }

    /// <summary>
    /// Probes and chooses for a run on <paramref name="device"/> computing in <paramref name="computeType"/>.
    /// <paramref name="optionsName"/> (e.g. <c>LanguageModelOptions</c>) names the options in errors. Throws
    /// <see cref="InvalidOperationException"/> when <paramref name="mode"/> is <see cref="KernelMode.Fused"/> and a
    /// kernel fails, or when <paramref name="dispatch"/> is <see cref="ExpertDispatch.Dropless"/> on CUDA and the
    /// grouped GEMM cannot run there (on the CPU dropless experts need no kernel: each expert multiplies its own tokens).
    /// </summary>
    public static KernelSelection Select(KernelMode mode, ExpertDispatch dispatch, Device device, ScalarType computeType, string optionsName) =>
        Select(mode, dispatch, device, computeType, optionsName, null);

    /// <summary>As the public overload, with <paramref name="kernels"/> in place of the process's compiled kernels (tests inject failing ones).</summary>
    internal static KernelSelection Select(KernelMode mode, ExpertDispatch dispatch, Device device, ScalarType computeType, string optionsName, TorchScriptKernels? kernels)
    {
        bool cuda = device.type == DeviceType.CUDA;
        var fused = new List<KernelOp>();
        var failures = new Dictionary<KernelOp, string>();
        if (mode != KernelMode.Managed)
        {
            kernels ??= TorchScriptKernels.Shared;
            var candidates = new List<KernelOp> { KernelOp.RmsNorm, KernelOp.SwiGlu, KernelOp.LinearCrossEntropy, KernelOp.AdamW };
            // The grouped GEMM serves dropless experts on CUDA only; the CPU computes them exactly without it.
            if (cuda && dispatch != ExpertDispatch.CapacityPadded) candidates.Add(KernelOp.GroupedMm);
            foreach (var op in candidates)
            {
                try
                {
                    kernels.Compile(op);
                    Probe(op, kernels, device, computeType);
                    fused.Add(op);
                }
                catch (Exception e)
                {
                    failures[op] = Reason(e);
                }
            }
            if (mode == KernelMode.Fused && failures.Count > 0)
            {
                throw new InvalidOperationException(
                    $"{optionsName}.Kernels is Fused, but {(failures.Count == 1 ? "a fused kernel" : $"{failures.Count} fused kernels")} cannot run on {device} with this libtorch: " +
                    string.Join("; ", failures.Select(f => $"{f.Key}: {f.Value}")) +
                    $". Set {optionsName}.Kernels to Auto to run the managed code for {(failures.Count == 1 ? "it" : "them")}, or to Managed.");
            }
        }
        bool grouped = fused.Contains(KernelOp.GroupedMm);
        var experts = dispatch switch
        {
            ExpertDispatch.CapacityPadded => ExpertComputation.CapacityPadded,
            ExpertDispatch.Auto => grouped ? ExpertComputation.GroupedGemm : ExpertComputation.CapacityPadded,
            ExpertDispatch.Dropless when !cuda => ExpertComputation.ExactSegments,
            ExpertDispatch.Dropless when grouped => ExpertComputation.GroupedGemm,
            ExpertDispatch.Dropless => throw new InvalidOperationException(
                $"{optionsName}.ExpertDispatch is Dropless, which on CUDA needs the grouped GEMM kernel (torch._grouped_mm), but " +
                (mode == KernelMode.Managed
                    ? $"{optionsName}.Kernels is Managed. Set Kernels to Auto or Fused"
                    : $"it cannot run on {device} with this libtorch ({failures[KernelOp.GroupedMm]}). Set ExpertDispatch to Auto or CapacityPadded") + "."),
            _ => throw new ArgumentOutOfRangeException(nameof(dispatch), dispatch, $"{optionsName}.ExpertDispatch is not a known value."),
        };
        return new KernelSelection(new KernelSet(fused.Count > 0 ? kernels : null, fused, experts), failures);
    }

    /// <summary>The line of a TorchScript error that says what failed (its message starts with a traceback).</summary>
    private static string Reason(Exception e)
    {
        var lines = e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? e.GetType().Name : lines[^1].TrimEnd('.');
    }

    /// <summary>Runs <paramref name="op"/> fused and managed on tiny inputs, forward and backward; throws when the fused one fails or disagrees.</summary>
    internal static void Probe(KernelOp op, TorchScriptKernels kernels, Device device, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        using var grad = torch.enable_grad();
        // Its own generator, so the probe leaves the global random state (and so everything seeded after it) alone.
        using var generator = new Generator(20251130);
        Tensor Random(params long[] shape) => torch.randn(shape, generator: generator).to(device);
        var fusedSet = new KernelSet(kernels, new[] { op }, op == KernelOp.GroupedMm ? ExpertComputation.GroupedGemm : ExpertComputation.CapacityPadded);
        switch (op)
        {
            case KernelOp.RmsNorm:
            {
                using var norm = new RmsNorm(64, 1e-6);
                norm.to(device);
                using (torch.no_grad()) norm.Weight.copy_(Random(64).abs() + 0.5);
                var x = Random(4, 64).to(dtype);
                Compare(op, dtype, new[] { x, norm.Weight }, Random(4, 64).to(dtype), set => norm.Forward(x, set), fusedSet);
                break;
            }
            case KernelOp.SwiGlu:
            {
                var gateUp = Random(4, 32).to(dtype);
                Compare(op, dtype, new[] { gateUp }, Random(4, 16).to(dtype), set => SwiGluMlp.Activate(gateUp, set), fusedSet);
                break;
            }
            case KernelOp.LinearCrossEntropy:
            {
                var hidden = Random(6, 32).to(dtype);
                var weight = Random(40, 32);
                var targets = torch.tensor(new long[] { 0, 39, 7, 7, 21, 3 }, device: device);
                using var context = new ForwardContext();
                // Chunks of 4 rows: two chunks, the second one short.
                Compare(op, dtype, new[] { hidden, weight }, torch.ones(Array.Empty<long>(), device: device), set => set.Fused(op) is { } fused
                    ? LinearCrossEntropy.Mean(hidden, weight, targets, fused, context, chunkRows: 4)
                    : nn.functional.cross_entropy(nn.functional.linear(hidden, weight.to(dtype)).to(ScalarType.Float32), targets), fusedSet);
                break;
            }
            case KernelOp.AdamW:
                ProbeAdamW(kernels, device, generator);
                break;
            case KernelOp.GroupedMm:
            {
                var config = MoeModelConfig.Tiny with { HiddenSize = 32, MoeIntermediateSize = 16, NRoutedExperts = 4, NumExpertsPerTok = 2 };
                using var experts = new RoutedExperts(config);
                experts.to(device);
                using (torch.no_grad())
                {
                    experts.GateUpProj.copy_(Random(4, 32, 32) * 0.2);
                    experts.DownProj.copy_(Random(4, 32, 16) * 0.2);
                }
                var x = Random(12, 32).to(dtype);
                // Uneven loads, and expert 3 gets no token: an empty group.
                var indices = torch.tensor(Enumerable.Range(0, 12).SelectMany(t => new long[] { t % 3, (t + 1) % 3 }).ToArray(), new long[] { 12, 2 }).to(device);
                var weights = torch.rand(new long[] { 12, 2 }, generator: generator).to(device);
                var exact = new KernelSet(null, Array.Empty<KernelOp>(), ExpertComputation.ExactSegments);
                Compare(op, dtype, new[] { x, experts.GateUpProj, experts.DownProj }, Random(12, 32).to(dtype),
                    set => experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, set).Output, fusedSet, managed: exact);
                // LoRA adapters on the experts run unmerged here (their own grouped GEMMs of rank 8 and 16 columns).
                using var adapter = new LoraExpertAdapter(4, 32, 16, 8, 0.25, device, generator);
                using (torch.no_grad())
                {
                    adapter.GateUpB.copy_(Random(4, 32, 16) * 0.2);
                    adapter.DownB.copy_(Random(4, 32, 8) * 0.2);
                }
                experts.GateUpProj.requires_grad_(false);
                experts.DownProj.requires_grad_(false);
                Compare(op, dtype, new Tensor[] { x, adapter.GateUpA, adapter.GateUpB, adapter.DownA, adapter.DownB }, Random(12, 32).to(dtype),
                    set => experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, set, adapter).Output, fusedSet, managed: exact);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(op), op, "No probe for this kernel.");
        }
    }

    /// <summary>
    /// Runs <paramref name="forward"/> with <paramref name="fused"/> and with <paramref name="managed"/> (default
    /// <see cref="KernelSet.Managed"/>), back-propagates <paramref name="upstream"/> to <paramref name="inputs"/>, and
    /// compares outputs and gradients.
    /// </summary>
    private static void Compare(KernelOp op, ScalarType dtype, Tensor[] inputs, Tensor upstream, Func<KernelSet, Tensor> forward, KernelSet fused, KernelSet? managed = null)
    {
        (Tensor Output, Tensor[] Gradients) Run(KernelSet set)
        {
            var leaves = inputs.Select(t => t.requires_grad_(true)).ToArray();
            var output = forward(set);
            var gradients = torch.autograd.grad(new[] { output }, leaves, new[] { upstream }, allow_unused: true);
            return (output.detach(), gradients.ToArray());
        }
        var (fusedOutput, fusedGradients) = Run(fused);
        var (managedOutput, managedGradients) = Run(managed ?? KernelSet.Managed);
        ExpectClose(op, "output", fusedOutput, managedOutput, dtype);
        for (int i = 0; i < inputs.Length; i++) ExpectClose(op, $"gradient of input {i}", fusedGradients[i], managedGradients[i], dtype);
    }

    /// <summary>Two parameter groups (different weight decay and learning rate), a clipped step, a skipped step with NaN gradients, a plain step: the fused and managed optimizers must agree.</summary>
    private static void ProbeAdamW(TorchScriptKernels kernels, Device device, Generator generator)
    {
        List<OptimizerGroup> Groups(Tensor a, Tensor b) => new()
        {
            new OptimizerGroup(new[] { new Parameter(a.clone()) }, 0.1),
            new OptimizerGroup(new[] { new Parameter(b.clone()) }, 0.0, 0.5),
        };
        var a0 = torch.randn(new long[] { 3, 5 }, generator: generator).to(device);
        var b0 = torch.randn(new long[] { 7 }, generator: generator).to(device);
        var gradients = Enumerable.Range(0, 3).Select(_ => (torch.randn(new long[] { 3, 5 }, generator: generator).to(device), torch.randn(new long[] { 7 }, generator: generator).to(device))).ToArray();
        var fusedGroups = Groups(a0, b0);
        var managedGroups = Groups(a0, b0);
        var fusedSet = new KernelSet(kernels, new[] { KernelOp.AdamW }, ExpertComputation.CapacityPadded);
        using var fused = new FlatAdamW(fusedGroups, 0.9, 0.95, 1e-8, device, fusedSet);
        using var managed = new FlatAdamW(managedGroups, 0.9, 0.95, 1e-8, device);
        var steps = new (double Scale, double Apply)[] { (0.5, 1), (0, 0), (1, 1) };
        for (int s = 0; s < steps.Length; s++)
        {
            foreach (var (optimizer, groups) in new[] { (fused, fusedGroups), (managed, managedGroups) })
            {
                optimizer.ZeroGrad();
                using (torch.no_grad())
                {
                    groups[0].Parameters[0].grad!.copy_(steps[s].Apply > 0 ? gradients[s].Item1 : torch.full_like(a0, double.NaN));
                    groups[1].Parameters[0].grad!.copy_(gradients[s].Item2);
                }
                optimizer.Step(1e-2, torch.full(new long[] { 1 }, steps[s].Scale, device: device), torch.full(new long[] { 1 }, steps[s].Apply, device: device));
            }
        }
        for (int g = 0; g < 2; g++) ExpectClose(KernelOp.AdamW, $"group {g} after three steps", fusedGroups[g].Parameters[0].detach(), managedGroups[g].Parameters[0].detach(), ScalarType.Float32);
    }

    private static void ExpectClose(KernelOp op, string what, Tensor? fused, Tensor? managed, ScalarType dtype)
    {
        if (fused is null || fused.IsInvalid || managed is null || managed.IsInvalid)
        {
            if ((fused is null || fused.IsInvalid) == (managed is null || managed.IsInvalid)) return;
            throw new InvalidOperationException($"the {op} kernel's {what} is {(fused is null || fused.IsInvalid ? "missing" : "present where the managed code has none")}.");
        }
        if (!fused.shape.SequenceEqual(managed.shape))
            throw new InvalidOperationException($"the {op} kernel's {what} has shape [{string.Join(", ", fused.shape)}], the managed code's [{string.Join(", ", managed.shape)}].");
        // Half precision rounds to 8 bits of mantissa, and the two paths round at different points.
        double tolerance = dtype == ScalarType.Float32 ? 1e-4 : 5e-2;
        var a = fused.detach().to(ScalarType.Float64).cpu();
        var b = managed.detach().to(ScalarType.Float64).cpu();
        double allowed = tolerance * (1 + b.abs().max().item<double>());
        double difference = (a - b).abs().max().item<double>();
        if (!(difference <= allowed))
            throw new InvalidOperationException($"the {op} kernel's {what} differs from the managed code's by {difference:G3} (allowed {allowed:G3}).");
    }
}
