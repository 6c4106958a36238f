using TorchSharp;

namespace MLNet.MoE.Tests.Runtime;

/// <summary>
/// Kernel arguments stay alive through the native call: doubles passed to a TorchScript kernel are not freed by a
/// garbage collection that runs while libtorch reads them.
/// </summary>
public class KernelArgumentLifetimeTests
{
    [Fact]
    public async Task AKernelWithDoubleArgumentsGivesTheSameResultUnderConstantGarbageCollection()
    {
        // No dispose scope: one would hold every Scalar made on the way and hide the race (an optimizer step may run outside one).
        var kernels = TorchScriptKernels.Shared;
        using var x = torch.randn(4, 16, generator: new torch.Generator(7));
        using var weight = torch.ones(16);
        float[] expected;
        using (var first = kernels.RmsNorm(x, weight, 1e-6)) expected = first.data<float>().ToArray();
        using var stop = new CancellationTokenSource();
        var collector = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        try
        {
            for (int i = 0; i < 3000; i++)
            {
                using var result = kernels.RmsNorm(x, weight, 1e-6);
                Assert.Equal(expected, result.data<float>().ToArray());
            }
        }
        finally
        {
            stop.Cancel();
            await collector;
        }
    }
}
