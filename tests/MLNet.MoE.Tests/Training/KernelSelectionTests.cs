using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNet.MoE.Tests.Modeling;
using TorchSharp;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Training;

/// <summary>The start-up probe that chooses fused kernels or managed code, its one warning, and the options' errors.</summary>
public class KernelSelectionTests
{
    /// <summary>
    /// An RMSNorm kernel that compiles but fails when it runs (a normalised shape one wider than the input): the failure
    /// a libtorch that refuses a layout or dtype shows. A source that does not compile cannot stand in for it: TorchSharp
    /// 0.107 does not catch TorchScript's compile errors, which end the process.
    /// </summary>
    private const string FailingRmsNorm = """
        def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
            return torch.rms_norm(x, [x.size(-1) + 1], None, eps)
        """;

    /// <summary>An RMSNorm kernel that runs but computes something else (no weight): the probe must not take it.</summary>
    private const string WrongRmsNorm = """
        def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
            return torch.rms_norm(x, [x.size(-1)], None, eps)
        """;

    private static TorchScriptKernels KernelsWith(string rmsNorm) => new(new Dictionary<KernelOp, string> { [KernelOp.RmsNorm] = rmsNorm });

    /// <summary>Selects through the trainers' own entry point, with an ML.NET channel whose messages are collected.</summary>
    private static (KernelSet Kernels, List<(ChannelMessageKind Kind, string Message)> Log) Select(LanguageModelOptions options, TorchScriptKernels? kernels = null)
    {
        var ml = new MLContext(seed: 1);
        var log = new List<(ChannelMessageKind, string)>();
        ml.Log += (_, e) => { if (e.Source.Contains("KernelTest", StringComparison.Ordinal)) lock (log) log.Add((e.Kind, e.Message)); };
        var host = ((IHostEnvironment)ml).Register("KernelTest");
        KernelSet set;
        using (var channel = host.Start("Training")) set = options.SelectKernels(torch.CPU, ScalarType.Float32, channel, kernels);
        return (set, log);
    }

    [Fact]
    public void AutoOnTheCpuFusesEveryKernelKeepsPaddedExpertsAndLogsThePathsOnce()
    {
        var (kernels, log) = Select(new LanguageModelOptions());
        foreach (var op in new[] { KernelOp.RmsNorm, KernelOp.SwiGlu, KernelOp.LinearCrossEntropy, KernelOp.AdamW }) Assert.True(kernels.IsFused(op), op.ToString());
        Assert.False(kernels.IsFused(KernelOp.GroupedMm));
        Assert.Equal(ExpertComputation.CapacityPadded, kernels.Experts);
        Assert.DoesNotContain(log, m => m.Kind == ChannelMessageKind.Warning);
        var line = Assert.Single(log, m => m.Message.Contains("Kernels on cpu: ", StringComparison.Ordinal));
        Assert.Contains("RmsNorm=Fused, SwiGlu=Fused, LinearCrossEntropy=Fused, AdamW=Fused, Experts=CapacityPadded", line.Message);
    }

    /// <summary>
    /// The grouped GEMM's start-up probe (experts with and without LoRA adapters on them) is CUDA's in training, but
    /// the CPU's <c>_grouped_mm</c> runs float32 and bfloat16, so the probe itself is checked here: it passes with the built-in
    /// kernel and refuses a grouped GEMM whose LoRA term is wrong.
    /// </summary>
    [Fact]
    public void TheGroupedGemmProbeChecksTheExpertsWithAndWithoutAdapters()
    {
        KernelSelection.Probe(KernelOp.GroupedMm, TorchScriptKernels.Shared, torch.CPU, ScalarType.Float32);
        // bfloat16, as CUDA runs it: every row stride of the low-rank terms a multiple of 16 bytes.
        KernelSelection.Probe(KernelOp.GroupedMm, TorchScriptKernels.Shared, torch.CPU, ScalarType.BFloat16);
        string withoutLoraDown = TorchScriptKernelSources.GroupedMm.Replace(
            "return out.add_(torch._grouped_mm(torch._grouped_mm(a, down_a.transpose(1, 2), offs=offsets), (down_b * scaling).transpose(1, 2), offs=offsets))",
            "return out", StringComparison.Ordinal);
        Assert.NotEqual(TorchScriptKernelSources.GroupedMm, withoutLoraDown);
        var wrong = new TorchScriptKernels(new Dictionary<KernelOp, string> { [KernelOp.GroupedMm] = withoutLoraDown });
        var refused = Assert.Throws<InvalidOperationException>(() => KernelSelection.Probe(KernelOp.GroupedMm, wrong, torch.CPU, ScalarType.Float32));
        Assert.Contains("GroupedMm", refused.Message);
    }

    [Theory]
    [InlineData(KernelMode.Managed, ExpertDispatch.Auto, ExpertComputation.CapacityPadded)]
    [InlineData(KernelMode.Managed, ExpertDispatch.Dropless, ExpertComputation.ExactSegments)]
    [InlineData(KernelMode.Auto, ExpertDispatch.Dropless, ExpertComputation.ExactSegments)]
    [InlineData(KernelMode.Fused, ExpertDispatch.CapacityPadded, ExpertComputation.CapacityPadded)]
    public void OnTheCpuDroplessExpertsAreExactSegmentsWithoutAnyKernel(KernelMode mode, ExpertDispatch dispatch, object expectedComputation)
    {
        var (kernels, _) = Select(new LanguageModelOptions { Kernels = mode, ExpertDispatch = dispatch });
        Assert.Equal((ExpertComputation)expectedComputation, kernels.Experts);
        Assert.Equal(mode != KernelMode.Managed, kernels.IsFused(KernelOp.RmsNorm));
    }

    [Theory]
    [InlineData(FailingRmsNorm)]
    [InlineData(WrongRmsNorm)]
    public void AKernelThatFailsItsProbeFallsBackWithOneWarningAndTheManagedResult(string source)
    {
        var (kernels, log) = Select(new LanguageModelOptions(), KernelsWith(source));
        Assert.False(kernels.IsFused(KernelOp.RmsNorm));
        Assert.True(kernels.IsFused(KernelOp.SwiGlu) && kernels.IsFused(KernelOp.LinearCrossEntropy) && kernels.IsFused(KernelOp.AdamW));
        var warning = Assert.Single(log, m => m.Kind == ChannelMessageKind.Warning);
        Assert.Contains("LanguageModelOptions.Kernels is Auto", warning.Message);
        Assert.Contains("RmsNorm: ", warning.Message);
        Assert.Contains(log, m => m.Message.Contains("RmsNorm=Managed, SwiGlu=Fused", StringComparison.Ordinal));
        // The set the run gets computes the norm with the managed code: the same result as the managed set.
        using var scope = torch.NewDisposeScope();
        using var norm = new RmsNorm(8, 1e-6);
        var x = torch.randn(3, 8);
        Assert.True(TensorAssert.Same(norm.Forward(x, KernelSet.Managed), norm.Forward(x, kernels)));
    }

    [Fact]
    public void FusedModeWithAFailingKernelFailsBeforeTrainingNamingTheOption()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Select(new LanguageModelOptions { Kernels = KernelMode.Fused }, KernelsWith(FailingRmsNorm)));
        Assert.Contains("LanguageModelOptions.Kernels is Fused", error.Message);
        Assert.Contains("RmsNorm: ", error.Message);
        Assert.Contains("Given normalized_shape", error.Message);
    }

    [Fact]
    public void DroplessOnCudaWithManagedKernelsFailsNamingBothOptions()
    {
        // Managed kernels probe nothing, so this resolves without a GPU.
        var error = Assert.Throws<InvalidOperationException>(() =>
            KernelSelection.Select(KernelMode.Managed, ExpertDispatch.Dropless, new Device(DeviceType.CUDA, 0), ScalarType.BFloat16, nameof(MoeTextClassificationOptions)));
        Assert.Contains("MoeTextClassificationOptions.ExpertDispatch is Dropless", error.Message);
        Assert.Contains("MoeTextClassificationOptions.Kernels is Managed", error.Message);
        Assert.Equal(ExpertComputation.CapacityPadded,
            KernelSelection.Select(KernelMode.Managed, ExpertDispatch.Auto, new Device(DeviceType.CUDA, 0), ScalarType.BFloat16, "Test").Kernels.Experts);
    }

    [Fact]
    public void UndefinedOptionValuesFailValidationNamingTheOption()
    {
        Assert.Contains(nameof(LanguageModelOptions.Kernels), Assert.Throws<ArgumentOutOfRangeException>(() => new LanguageModelOptions { Kernels = (KernelMode)7 }.Validate()).Message);
        Assert.Contains(nameof(MoeTextClassificationOptions.ExpertDispatch), Assert.Throws<ArgumentOutOfRangeException>(() => new MoeTextClassificationOptions { ExpertDispatch = (ExpertDispatch)7 }.Validate()).Message);
    }

    [Fact]
    public void TheTrainerReportsItsKernelsInTheSummary()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(steps: 2);
        options.Kernels = KernelMode.Managed;
        options.ExpertDispatch = ExpertDispatch.Dropless;
        var model = Train(ml, ml.Data.LoadFromEnumerable(Verses(30)), options).LastTransformer;
        Assert.Equal("RmsNorm=Managed, SwiGlu=Managed, LinearCrossEntropy=Managed, AdamW=Managed, Experts=ExactSegments", model.TrainingSummary!.Kernels);
        Assert.Equal(0, model.TrainingSummary.History[^1].DroppedFraction);
    }
}
