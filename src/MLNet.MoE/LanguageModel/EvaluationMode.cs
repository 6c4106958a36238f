using TorchSharp;

namespace MLNet.MoE;

/// <summary>Puts a module in evaluation mode without gradients for a scope, and gives it back in the mode it was in.</summary>
internal sealed class EvaluationMode : IDisposable
{
    private readonly torch.nn.Module module;
    private readonly bool wasTraining;
    private readonly IDisposable noGrad;

    public EvaluationMode(torch.nn.Module module)
    {
        this.module = module;
        wasTraining = module.training;
        module.eval();
        noGrad = torch.no_grad();
    }

    public void Dispose()
    {
        noGrad.Dispose();
        module.train(wasTraining);
    }
}
