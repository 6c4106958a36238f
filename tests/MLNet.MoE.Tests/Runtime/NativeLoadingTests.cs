using TorchSharp;

namespace MLNet.MoE.Tests.Runtime;

public class NativeLoadingTests
{
    [Fact]
    public void TensorOperationRunsOnCpu()
    {
        string version = TorchNative.EnsureLoaded();
        Assert.StartsWith("2.", version);
        using var scope = torch.NewDisposeScope();
        var a = torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        var b = torch.tensor(new float[] { 5, 6, 7, 8 }).reshape(2, 2);
        float[] product = a.matmul(b).data<float>().ToArray();
        Assert.Equal(new float[] { 19, 22, 43, 50 }, product);
    }
}
