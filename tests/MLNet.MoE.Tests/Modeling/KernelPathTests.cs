using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>Each fused kernel against the managed code it replaces, on the CPU: outputs and gradients.</summary>
public class KernelPathTests
{
    private const double Tolerance = 1e-5;

    /// <summary>A set with only <paramref name="ops"/> fused (capacity-padded experts).</summary>
    internal static KernelSet Fused(params KernelOp[] ops) => new(TorchScriptKernels.Shared, ops, ExpertComputation.CapacityPadded);

    /// <summary>The output of <paramref name="forward"/> and the gradients of <paramref name="leaves"/> for the upstream gradient <paramref name="upstream"/>.</summary>
    private static (Tensor Output, Tensor[] Gradients) Run(Func<Tensor> forward, Tensor upstream, params Tensor[] leaves)
    {
        var output = forward();
        var gradients = torch.autograd.grad(new[] { output }, leaves, new[] { upstream });
        return (output.detach(), gradients.ToArray());
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what, double tolerance = Tolerance)
    {
        Assert.Equal(expected.shape, actual.shape);
        double difference = SmallModels.MaxDifference(expected, actual);
        Assert.True(difference < tolerance, $"{what}: max difference {difference:E3}");
    }

    private static void AssertSameRun((Tensor Output, Tensor[] Gradients) managed, (Tensor Output, Tensor[] Gradients) fused, double tolerance = Tolerance)
    {
        AssertClose(managed.Output, fused.Output, "output", tolerance);
        for (int i = 0; i < managed.Gradients.Length; i++) AssertClose(managed.Gradients[i], fused.Gradients[i], $"gradient {i}", tolerance);
    }

    [Fact]
    public void RmsNormKernelEqualsTheManagedNormWithGradients()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new Generator(31);
        using var norm = new RmsNorm(24, 1e-6);
        using (torch.no_grad()) norm.Weight.copy_(torch.rand(24, generator: generator) + 0.5);
        var x = (torch.randn(new long[] { 3, 5, 24 }, generator: generator) * 3).requires_grad_(true);
        var upstream = torch.randn(new long[] { 3, 5, 24 }, generator: generator);
        var managed = Run(() => norm.Forward(x, KernelSet.Managed), upstream, x, norm.Weight);
        var fused = Run(() => norm.Forward(x, Fused(KernelOp.RmsNorm)), upstream, x, norm.Weight);
        AssertSameRun(managed, fused);
        // bfloat16 activations: both reduce in float32; they round at different points.
        var xb = x.detach().to(ScalarType.BFloat16).requires_grad_(true);
        var upstreamB = upstream.to(ScalarType.BFloat16);
        AssertSameRun(Run(() => norm.Forward(xb, KernelSet.Managed), upstreamB, xb, norm.Weight), Run(() => norm.Forward(xb, Fused(KernelOp.RmsNorm)), upstreamB, xb, norm.Weight), 5e-2);
    }

    [Fact]
    public void SwiGluMlpWithOneGateUpGemmEqualsTwoProjectionsAndKeepsHuggingFaceNames()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new Generator(32);
        torch.manual_seed(32);
        using var mlp = new SwiGluMlp(16, 40);
        Assert.Equal(new[] { "gate_proj.weight", "up_proj.weight", "down_proj.weight" }, mlp.named_parameters().Select(p => p.name));
        var x = torch.randn(new long[] { 2, 7, 16 }, generator: generator).requires_grad_(true);
        var upstream = torch.randn(new long[] { 2, 7, 16 }, generator: generator);
        var leaves = new[] { x }.Concat(mlp.parameters()).ToArray();
        AssertSameRun(Run(() => mlp.Forward(x, KernelSet.Managed), upstream, leaves), Run(() => mlp.Forward(x, Fused(KernelOp.SwiGlu)), upstream, leaves));
        Assert.True(TensorAssert.Same(mlp.forward(x).detach(), mlp.Forward(x, KernelSet.Managed).detach()), "forward(x) is the managed path");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(10)]
    [InlineData(64)]
    public void ChunkedLinearCrossEntropyEqualsCrossEntropyOfTheFullLogits(int chunkRows)
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new Generator(33);
        using var context = new ForwardContext();
        const int n = 10, h = 12, v = 37;
        var hidden = torch.randn(new long[] { n, h }, generator: generator).requires_grad_(true);
        var weight = (torch.randn(new long[] { v, h }, generator: generator) * 0.5).requires_grad_(true);
        var targets = torch.randint(0, v, new long[] { n }, generator: generator);
        // The loss's own gradient is not 1 under gradient accumulation: the backward pass scales by it.
        var upstream = torch.tensor(0.25f);
        var managed = Run(() => nn.functional.cross_entropy(nn.functional.linear(hidden, weight), targets), upstream, hidden, weight);
        var fused = Run(() => LinearCrossEntropy.Mean(hidden, weight, targets, TorchScriptKernels.Shared, context, chunkRows), upstream, hidden, weight);
        AssertSameRun(managed, fused);
        using (torch.no_grad())
        {
            AssertClose(managed.Output, LinearCrossEntropy.Mean(hidden, weight, targets, TorchScriptKernels.Shared, context, chunkRows), "loss without gradients");
        }
    }

    [Fact]
    public void ChunkRowsKeepFloat32LogitsOfOneChunkNearTheBudget()
    {
        Assert.Equal(1334, LinearCrossEntropy.ChunkRows(50304));
        Assert.Equal(1, LinearCrossEntropy.ChunkRows(1L << 30));
        Assert.Equal(1 << 20, LinearCrossEntropy.ChunkRows(64));
    }

    private static readonly MoeModelConfig ExpertConfig = SmallModels.Base with { NRoutedExperts = 4, NGroup = 1, NumExpertsPerTok = 2 };

    /// <summary>Random experts and a skewed routing of n tokens in which expert 3 gets nothing.</summary>
    private static (RoutedExperts Experts, Tensor X, Tensor Indices, Tensor Weights, Tensor Upstream) ExpertCase(int n, long seed)
    {
        using var generator = new Generator((ulong)seed);
        var experts = new RoutedExperts(ExpertConfig);
        using (torch.no_grad())
        {
            experts.GateUpProj.normal_(0, 0.3, generator);
            experts.DownProj.normal_(0, 0.3, generator);
        }
        var x = torch.randn(new long[] { n, ExpertConfig.HiddenSize }, generator: generator).requires_grad_(true);
        // Expert 0 takes most tokens, expert 3 none.
        var indices = torch.tensor(Enumerable.Range(0, n).SelectMany(t => t % 5 == 4 ? new long[] { 2, 1 } : new long[] { 0, 1 + t % 2 }).ToArray(), new long[] { n, 2 });
        var weights = torch.rand(new long[] { n, 2 }, generator: generator);
        var upstream = torch.randn(new long[] { n, ExpertConfig.HiddenSize }, generator: generator);
        return (experts, x, indices, weights, upstream);
    }

    [Fact]
    public void DroplessExactSegmentsEqualPaddedExpertsWhoseCapacityDropsNothing()
    {
        using var scope = torch.NewDisposeScope();
        var (experts, x, indices, weights, upstream) = ExpertCase(13, 34);
        using var _ = experts;
        var leaves = new[] { x, experts.GateUpProj, experts.DownProj };
        var exact = new KernelSet(null, Array.Empty<KernelOp>(), ExpertComputation.ExactSegments);
        // Capacity factor E: C = N·K, more than any expert's load.
        var padded = Run(() => experts.Forward(x, indices, weights, training: true, capacityFactor: ExpertConfig.NRoutedExperts, KernelSet.Managed).Output, upstream, leaves);
        var dropless = Run(() => experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, exact).Output, upstream, leaves);
        AssertSameRun(padded, dropless);
        var (_, load, dropped) = experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, exact);
        Assert.Equal(0L, dropped.item<long>());
        Assert.Equal(0L, load[3].item<long>());
        // With the fused SwiGLU inside the experts too.
        var fusedExact = new KernelSet(TorchScriptKernels.Shared, new[] { KernelOp.SwiGlu }, ExpertComputation.ExactSegments);
        AssertSameRun(padded, Run(() => experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, fusedExact).Output, upstream, leaves));
    }

    /// <summary>
    /// The grouped-GEMM code path is meant for CUDA, but the CPU's <c>_grouped_mm</c> runs float32 forward and backward
    /// (it refuses only stride-0 upstream gradients and, in bfloat16, strides that are not multiples of 16 bytes), so the
    /// path's offsets, weight layout, empty groups and gradients are checked here against the exact segments.
    /// </summary>
    [Fact]
    public void GroupedGemmExpertsEqualExactSegmentsWithAnEmptyExpert()
    {
        using var scope = torch.NewDisposeScope();
        var (experts, x, indices, weights, upstream) = ExpertCase(13, 35);
        using var _ = experts;
        var leaves = new[] { x, experts.GateUpProj, experts.DownProj };
        var exact = new KernelSet(null, Array.Empty<KernelOp>(), ExpertComputation.ExactSegments);
        var grouped = new KernelSet(TorchScriptKernels.Shared, new[] { KernelOp.GroupedMm }, ExpertComputation.GroupedGemm);
        AssertSameRun(
            Run(() => experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, exact).Output, upstream, leaves),
            Run(() => experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, grouped).Output, upstream, leaves));
        var (_, load, dropped) = experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, grouped);
        Assert.Equal(0L, dropped.item<long>());
        Assert.Equal(26L, load.sum().item<long>());
    }

    /// <summary>
    /// LoRA adapters on the routed experts run unmerged on the grouped-GEMM path (low-rank grouped GEMMs beside the
    /// frozen weights) and merged on the exact segments: the same outputs and the same gradients of the rows and of all
    /// four factors, and the frozen stacked weights get no gradient at all. A rank that is not a multiple of 8 merges.
    /// </summary>
    [Theory]
    [InlineData(8, true)]
    [InlineData(4, false)]
    public void GroupedGemmRunsExpertAdaptersUnmergedWithTheMergedWeightsResults(int rank, bool unmerged)
    {
        using var scope = torch.NewDisposeScope();
        var (experts, x, indices, weights, upstream) = ExpertCase(13, 36);
        using var _ = experts;
        experts.GateUpProj.requires_grad_(false);
        experts.DownProj.requires_grad_(false);
        using var generator = new Generator(37);
        using var adapter = new LoraExpertAdapter(ExpertConfig.NRoutedExperts, ExpertConfig.HiddenSize, ExpertConfig.MoeIntermediateSize, rank, 2.0 / rank, torch.CPU, generator);
        using (torch.no_grad())
        {
            // B starts at zero; random B makes the low-rank term count.
            adapter.GateUpB.normal_(0, 0.3, generator);
            adapter.DownB.normal_(0, 0.3, generator);
        }
        var leaves = new Tensor[] { x, adapter.GateUpA, adapter.GateUpB, adapter.DownA, adapter.DownB };
        var exact = new KernelSet(null, Array.Empty<KernelOp>(), ExpertComputation.ExactSegments);
        var grouped = new KernelSet(TorchScriptKernels.Shared, new[] { KernelOp.GroupedMm }, ExpertComputation.GroupedGemm);
        Assert.Equal(unmerged, adapter.RunsUnmergedIn(grouped));
        Assert.False(adapter.RunsUnmergedIn(exact));
        var merged = Run(() => experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, exact, adapter).Output, upstream, leaves);
        var withGroupedGemm = Run(() => experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, grouped, adapter).Output, upstream, leaves);
        AssertSameRun(merged, withGroupedGemm);
        Assert.True(SmallModels.MaxDifference(merged.Output, experts.Forward(x.detach(), indices, weights, training: true, capacityFactor: 1.0, exact).Output) > 1e-3,
            "the adapter changes the experts' output");
        var output = experts.Forward(x, indices, weights, training: true, capacityFactor: 1.0, grouped, adapter).Output;
        output.backward(new[] { upstream });
        Assert.True(experts.GateUpProj.grad is null && experts.DownProj.grad is null, "the frozen stacked weights get no gradient");
        Assert.NotNull(adapter.DownA.grad);
    }

    /// <summary>Two identical models, one with every fused kernel: the same loss at every step of the training loop, and the same weights after.</summary>
    [Theory]
    [InlineData(ExpertDispatch.CapacityPadded, false, "base")]
    [InlineData(ExpertDispatch.Dropless, false, "mtp")]
    [InlineData(ExpertDispatch.CapacityPadded, true, "mtp")]
    public void ATrainingRunGivesTheSameLossesWithFusedKernelsAsWithManagedCode(ExpertDispatch dispatch, bool recompute, string configName)
    {
        var config = SmallModels.Named(configName);
        var fusedKernels = KernelSelection.Select(KernelMode.Fused, dispatch, torch.CPU, ScalarType.Float32, "Test").Kernels;
        var managedKernels = KernelSelection.Select(KernelMode.Managed, dispatch, torch.CPU, ScalarType.Float32, "Test").Kernels;
        Assert.True(fusedKernels.IsFused(KernelOp.AdamW) && fusedKernels.IsFused(KernelOp.LinearCrossEntropy) && fusedKernels.IsFused(KernelOp.RmsNorm) && fusedKernels.IsFused(KernelOp.SwiGlu));
        Assert.Equal(managedKernels.Experts, fusedKernels.Experts);
        var random = new Random(8);
        int[] stream = Enumerable.Range(0, 600).Select(_ => random.Next(config.VocabSize)).ToArray();
        int[] validation = Enumerable.Range(0, 80).Select(_ => random.Next(config.VocabSize)).ToArray();
        (LanguageModelTrainingSummary Summary, MoeCausalLM Model) Train(KernelSet kernels)
        {
            var model = new MoeCausalLM(config, seed: 5);
            var settings = new LanguageModelTrainingSettings
            {
                ContextLength = 16,
                BatchSize = 4,
                GradientAccumulationSteps = 2,
                Steps = 4,
                Optimizer = new OptimizerSettings { LearningRate = 1e-2, WarmupSteps = 1, GradientClipNorm = 0.5 },
                Routing = new MoeRoutingSettings { CapacityFactor = 1.0, BalanceLossWeight = 0.01 },
                RecomputeActivations = recompute,
                LogEverySteps = 1,
                Kernels = kernels,
            };
            return (new LanguageModelTrainingLoop(model, settings, torch.CPU).Run(stream, validation, _ => { }), model);
        }
        var (managed, managedModel) = Train(managedKernels);
        var (fused, fusedModel) = Train(fusedKernels);
        using var a = managedModel;
        using var b = fusedModel;
        Assert.Equal(managedKernels.ToString(), managed.Kernels);
        Assert.Equal(fusedKernels.ToString(), fused.Kernels);
        var managedLosses = managed.History.Select(h => h.Loss).ToArray();
        var fusedLosses = fused.History.Select(h => h.Loss).ToArray();
        Assert.Equal(4, managedLosses.Length);
        for (int i = 0; i < managedLosses.Length; i++) Assert.True(Math.Abs(managedLosses[i] - fusedLosses[i]) < 1e-5, $"step {i + 1}: {managedLosses[i]} vs {fusedLosses[i]}");
        Assert.True(Math.Abs(managed.ValidationLoss - fused.ValidationLoss) < 1e-5, $"validation {managed.ValidationLoss} vs {fused.ValidationLoss}");
        var fusedWeights = fusedModel.state_dict();
        foreach (var (name, tensor) in managedModel.state_dict())
        {
            double difference = SmallModels.MaxDifference(tensor, fusedWeights[name]);
            Assert.True(difference < 1e-4, $"{name}: max difference {difference:E3}");
        }
    }
}
