using MLNet.MoE.Tests.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Training;

/// <summary>The fused AdamW kernel (<c>torch._fused_adamw_</c>) inside <see cref="FlatAdamW"/> against the managed step.</summary>
public class FusedAdamWTests
{
    private static readonly KernelSet FusedAdamW = new(TorchScriptKernels.Shared, new[] { KernelOp.AdamW }, ExpertComputation.CapacityPadded);

    private static readonly long[][] Shapes = { new long[] { 5, 3 }, new long[] { 4 }, new long[] { 2, 3, 2 } };

    private static List<Parameter> Parameters(long seed)
    {
        using var generator = new Generator((ulong)seed);
        return Shapes.Select(shape => new Parameter(torch.randn(shape, generator: generator))).ToList();
    }

    /// <summary>Two groups with different weight decay and learning-rate scale.</summary>
    private static FlatAdamW Optimizer(List<Parameter> parameters, KernelSet? kernels) => new(new[]
    {
        new OptimizerGroup(new[] { parameters[0], parameters[2] }, 0.1),
        new OptimizerGroup(new[] { parameters[1] }, 0.0, 0.3),
    }, 0.9, 0.95, 1e-8, torch.CPU, kernels);

    private static void SetGradients(FlatAdamW optimizer, List<Parameter> parameters, int step, bool nonFinite)
    {
        optimizer.ZeroGrad();
        using var noGrad = torch.no_grad();
        for (int i = 0; i < parameters.Count; i++)
        {
            using var generator = new Generator((ulong)(100 * step + i));
            parameters[i].grad!.copy_(torch.randn(Shapes[i], generator: generator));
        }
        if (nonFinite)
        {
            parameters[1].grad![2].fill_(float.NaN);
            parameters[2].grad![0, 1, 1].fill_(float.PositiveInfinity);
        }
    }

    private static byte[] Snapshot(FlatAdamW optimizer)
    {
        using var memory = new MemoryStream();
        using (var writer = new BinaryWriter(memory, System.Text.Encoding.UTF8, leaveOpen: true)) optimizer.Save(writer);
        return memory.ToArray();
    }

    [Fact]
    public void FusedStepsMatchManagedStepsWithTwoGroupsClippingAndASkippedNonFiniteStep()
    {
        var ours = Parameters(1);
        var reference = Parameters(1);
        using var fused = Optimizer(ours, FusedAdamW);
        using var managed = Optimizer(reference, null);
        Assert.True(fused.IsFused);
        Assert.False(managed.IsFused);
        // Step 3 holds NaN and Inf gradients and is masked out; steps 2 and 5 are clipped.
        var scales = new[] { 1.0, 0.4, 0.0, 1.0, 0.7, 1.0 };
        for (int step = 1; step <= scales.Length; step++)
        {
            bool skip = step == 3;
            var before = ours.Select(p => p.detach().clone()).ToList();
            byte[] stateBefore = Snapshot(fused);
            foreach (var (optimizer, parameters) in new[] { (fused, ours), (managed, reference) })
            {
                SetGradients(optimizer, parameters, step, skip);
                optimizer.Step(2e-2 / step, torch.tensor(new[] { (float)scales[step - 1] }), torch.tensor(new[] { skip ? 0f : 1f }));
            }
            if (skip)
            {
                for (int i = 0; i < ours.Count; i++) Assert.True(TensorAssert.Same(before[i], ours[i].detach()), $"parameter {i} changed in a skipped step");
                Assert.Equal(stateBefore, Snapshot(fused));
            }
            for (int i = 0; i < ours.Count; i++)
            {
                double difference = SmallModels.MaxDifference(reference[i].detach(), ours[i].detach());
                Assert.True(difference < 1e-6, $"step {step}, parameter {i}: max difference {difference:E3}");
            }
        }
    }

    [Fact]
    public void FusedStateLoadsIntoTheManagedOptimizerAndBack()
    {
        var ours = Parameters(2);
        var reference = Parameters(2);
        using var fused = Optimizer(ours, FusedAdamW);
        for (int step = 1; step <= 3; step++)
        {
            SetGradients(fused, ours, step, nonFinite: false);
            fused.Step(1e-2, torch.ones(1), torch.ones(1));
        }
        using (torch.no_grad()) for (int i = 0; i < ours.Count; i++) reference[i].copy_(ours[i]);
        using var managed = Optimizer(reference, null);
        using (var reader = new BinaryReader(new MemoryStream(Snapshot(fused)))) managed.Load(reader);
        Assert.Equal(Snapshot(fused), Snapshot(managed));
        for (int step = 4; step <= 5; step++)
        {
            foreach (var (optimizer, parameters) in new[] { (fused, ours), (managed, reference) })
            {
                SetGradients(optimizer, parameters, step, nonFinite: false);
                optimizer.Step(1e-2, torch.ones(1), torch.ones(1));
            }
        }
        for (int i = 0; i < ours.Count; i++) Assert.True(SmallModels.MaxDifference(reference[i].detach(), ours[i].detach()) < 1e-6, $"parameter {i}");
        using var again = Optimizer(Parameters(3), FusedAdamW);
        using (var reader = new BinaryReader(new MemoryStream(Snapshot(managed)))) again.Load(reader);
        Assert.Equal(Snapshot(managed), Snapshot(again));
    }
}
