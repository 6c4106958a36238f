using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Training;

/// <summary>The flat-buffer optimizer against TorchSharp's own AdamW, and its device-side skipping.</summary>
public class FlatAdamWTests
{
    private static List<Parameter> Parameters(long seed)
    {
        using var generator = new Generator((ulong)seed);
        return new List<Parameter>
        {
            new(torch.randn(new long[] { 5, 3 }, generator: generator)),
            new(torch.randn(new long[] { 4 }, generator: generator)),
            new(torch.randn(new long[] { 2, 3, 2 }, generator: generator)),
        };
    }

    private static Tensor[] Gradients(int step) =>
        new[] { new long[] { 5, 3 }, new long[] { 4 }, new long[] { 2, 3, 2 } }
            .Select((shape, i) => torch.randn(shape, generator: new Generator((ulong)(100 * step + i)))).ToArray();

    /// <summary>Six steps of both optimizers on the same gradients, then every parameter compared.</summary>
    private static void StepBothAndCompare(FlatAdamW flat, OptimizerHelper reference, List<Parameter> ours, List<Parameter> theirs, double lr)
    {
        for (int step = 1; step <= 6; step++)
        {
            var grads = Gradients(step);
            flat.ZeroGrad();
            reference.zero_grad();
            using (torch.no_grad())
            {
                for (int i = 0; i < grads.Length; i++)
                {
                    ours[i].grad!.add_(grads[i]);
                    theirs[i].grad = grads[i].clone();
                }
            }
            flat.Step(lr, torch.ones(1), torch.ones(1));
            reference.step();
        }
        for (int i = 0; i < ours.Count; i++)
        {
            double difference = (ours[i] - theirs[i]).abs().max().item<float>();
            Assert.True(difference < 1e-6, $"parameter {i} differs by {difference}");
        }
    }

    [Fact]
    public void StepsMatchTorchSharpsAdamW()
    {
        var ours = Parameters(1);
        var theirs = Parameters(1);
        double lr = 1e-2, wd = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
        using var flat = new FlatAdamW(ours.Take(2).ToList(), ours.Skip(2).ToList(), wd, beta1, beta2, eps, torch.CPU);
        var reference = torch.optim.AdamW(new List<AdamW.ParamGroup>
        {
            new(theirs.Take(2), new AdamW.Options { LearningRate = lr, weight_decay = wd, beta1 = beta1, beta2 = beta2, eps = eps }),
            new(theirs.Skip(2), new AdamW.Options { LearningRate = lr, weight_decay = 0.0, beta1 = beta1, beta2 = beta2, eps = eps }),
        }, lr, beta1, beta2, eps, wd);
        StepBothAndCompare(flat, reference, ours, theirs, lr);
    }

    [Fact]
    public void GroupLearningRateScalesMatchTorchSharpsPerGroupLearningRates()
    {
        var ours = Parameters(2);
        var theirs = Parameters(2);
        double lr = 1e-2, wd = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
        // Backbone-like group at 0.3× with decay, one at 0.3× without, a head-like group at 1×.
        using var flat = new FlatAdamW(new[]
        {
            new OptimizerGroup(new[] { ours[0] }, wd, 0.3),
            new OptimizerGroup(new[] { ours[1] }, 0.0, 0.3),
            new OptimizerGroup(new[] { ours[2] }, wd),
        }, beta1, beta2, eps, torch.CPU);
        var reference = torch.optim.AdamW(new List<AdamW.ParamGroup>
        {
            new(new[] { theirs[0] }, new AdamW.Options { LearningRate = 0.3 * lr, weight_decay = wd, beta1 = beta1, beta2 = beta2, eps = eps }),
            new(new[] { theirs[1] }, new AdamW.Options { LearningRate = 0.3 * lr, weight_decay = 0.0, beta1 = beta1, beta2 = beta2, eps = eps }),
            new(new[] { theirs[2] }, new AdamW.Options { LearningRate = lr, weight_decay = wd, beta1 = beta1, beta2 = beta2, eps = eps }),
        }, lr, beta1, beta2, eps, wd);
        StepBothAndCompare(flat, reference, ours, theirs, lr);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FlatAdamW(new[] { new OptimizerGroup(Parameters(3), wd, 0.0) }, beta1, beta2, eps, torch.CPU));
    }

    [Fact]
    public void AMaskedStepChangesNothingEvenWithNonFiniteGradients()
    {
        var parameters = Parameters(2);
        using var flat = new FlatAdamW(parameters, Array.Empty<Parameter>(), 0.1, 0.9, 0.95, 1e-8, torch.CPU);
        flat.ZeroGrad();
        using (torch.no_grad()) parameters[0].grad!.add_(1.0);
        flat.Step(1e-2, torch.ones(1), torch.ones(1));
        var before = parameters.Select(p => p.detach().clone()).ToList();
        var stateBefore = Snapshot(flat);
        flat.ZeroGrad();
        using (torch.no_grad()) parameters[1].grad!.fill_(double.NaN);
        flat.Step(1e-2, torch.ones(1), torch.zeros(1));
        for (int i = 0; i < parameters.Count; i++) Assert.True(TensorAssert.Same(before[i], parameters[i].detach()), $"parameter {i} changed");
        Assert.Equal(stateBefore, Snapshot(flat));
    }

    private static byte[] Snapshot(FlatAdamW optimizer)
    {
        using var memory = new MemoryStream();
        using (var writer = new BinaryWriter(memory, System.Text.Encoding.UTF8, leaveOpen: true)) optimizer.Save(writer);
        return memory.ToArray();
    }
}
