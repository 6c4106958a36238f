using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE.Modeling;

/// <summary>A SwiGLU feed-forward block: <c>down_proj(silu(gate_proj(x)) · up_proj(x))</c>. Used for dense layers and shared experts.</summary>
public sealed class SwiGluMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gateProj;
    private readonly Linear upProj;
    private readonly Linear downProj;

    /// <summary>Creates the block with hidden width <paramref name="hidden"/> and inner width <paramref name="intermediate"/>.</summary>
    public SwiGluMlp(long hidden, long intermediate) : base(nameof(SwiGluMlp))
    {
        gateProj = nn.Linear(hidden, intermediate, hasBias: false);
        upProj = nn.Linear(hidden, intermediate, hasBias: false);
        downProj = nn.Linear(intermediate, hidden, hasBias: false);
        register_module("gate_proj", gateProj);
        register_module("up_proj", upProj);
        register_module("down_proj", downProj);
    }

    /// <summary>x [..., hidden] → [..., hidden].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return downProj.Project(nn.functional.silu(gateProj.Project(x)) * upProj.Project(x)).MoveToOuterDisposeScope();
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
