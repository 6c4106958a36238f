using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>Moving a model (to a device or dtype) replaces its tensors; the modules must use the replacements.</summary>
public class DeviceMoveTests
{
    [Fact]
    public void ModulesUseTheTensorsThatAMoveInstalled()
    {
        using var model = new MoeCausalLM(SmallModels.Base, seed: 1);
        model.to(ScalarType.Float64);
        var registered = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var buffers = model.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        foreach (var (layer, moe) in model.MoeLayers())
        {
            Assert.Same(registered[$"model.layers.{layer}.mlp.gate.weight"], moe.Router.Weight);
            Assert.Same(registered[$"model.layers.{layer}.mlp.experts.gate_up_proj"], moe.Experts.GateUpProj);
            Assert.Same(registered[$"model.layers.{layer}.mlp.experts.down_proj"], moe.Experts.DownProj);
            Assert.Equal(ScalarType.Float64, moe.Router.CorrectionBias.dtype);
            Assert.Equal(buffers[$"model.layers.{layer}.mlp.gate.e_score_correction_bias"].Handle, moe.Router.CorrectionBias.Handle);
        }
    }
}
