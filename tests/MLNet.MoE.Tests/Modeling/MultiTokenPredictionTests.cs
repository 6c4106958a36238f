using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>The multi-token-prediction term of the training loss.</summary>
public class MultiTokenPredictionTests
{
    [Fact]
    public void TheMtpWeightChangesTheLossAndGradientsReachEhProj()
    {
        var config = SmallModels.Named("mtp");
        using var scope = torch.NewDisposeScope();
        using var model = SmallModels.RandomModel(config);
        model.train();
        var ids = SmallModels.RandomIds(config, 2, 10, seed: 8);
        var targets = SmallModels.RandomIds(config, 2, 10, seed: 9);
        var ehProj = model.named_parameters().Single(p => p.name == $"model.layers.{config.NumHiddenLayers}.eh_proj.weight").parameter;
        var enorm = model.named_parameters().Single(p => p.name == $"model.layers.{config.NumHiddenLayers}.enorm.weight").parameter;

        model.zero_grad();
        var (total0, ce0, _) = model.Loss(ids, targets, new ForwardContext(), mtpWeight: 0);
        total0.backward();
        Assert.True(ehProj.grad is null || ehProj.grad.abs().max().item<float>() == 0, "eh_proj got a gradient from a loss without the MTP term");

        model.zero_grad();
        var (total, ce, _) = model.Loss(ids, targets, new ForwardContext(), mtpWeight: 0.3);
        total.backward();
        Assert.Equal(ce0.item<float>(), ce.item<float>());
        Assert.Equal(total0.item<float>(), ce0.item<float>());
        double mtpTerm = total.item<float>() - ce.item<float>();
        // 0.3 · cross-entropy of a near-uniform 48-way prediction is about 0.3 · ln 48 ≈ 1.2; it must be clearly positive.
        Assert.True(mtpTerm > 0.1, $"MTP term {mtpTerm}");
        Assert.NotNull(ehProj.grad);
        Assert.True(ehProj.grad!.abs().max().item<float>() > 0, "no gradient reached eh_proj");
        Assert.True(enorm.grad!.abs().max().item<float>() > 0, "no gradient reached enorm");
    }

    [Fact]
    public void DoublingTheMtpWeightDoublesTheMtpTerm()
    {
        var config = SmallModels.Named("mtp");
        using var scope = torch.NewDisposeScope();
        using var model = SmallModels.RandomModel(config);
        model.eval();
        using var noGrad = torch.no_grad();
        var ids = SmallModels.RandomIds(config, 2, 10, seed: 8);
        var targets = SmallModels.RandomIds(config, 2, 10, seed: 9);
        var (a, ceA, _) = model.Loss(ids, targets, new ForwardContext(), mtpWeight: 0.1);
        var (b, ceB, _) = model.Loss(ids, targets, new ForwardContext(), mtpWeight: 0.2);
        double termA = a.item<float>() - ceA.item<float>();
        double termB = b.item<float>() - ceB.item<float>();
        Assert.True(Math.Abs(termB - 2 * termA) < 1e-5, $"{termA} then {termB}");
    }
}
