using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>A SwiGLU feed-forward block: <c>down_proj(silu(gate_proj(x)) · up_proj(x))</c>. Used for dense layers and shared experts.</summary>
internal sealed class SwiGluMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gateProj;
    private readonly Linear upProj;
    private readonly Linear downProj;

    /// <summary>Creates the block with hidden width <paramref name="hidden"/> and inner width <paramref name="intermediate"/>.</summary>
    public SwiGluMlp(long hidden, long intermediate, TensorPlacement? placement = null) : base(nameof(SwiGluMlp))
    {
        var where = placement ?? TensorPlacement.Cpu;
        gateProj = where.Linear(hidden, intermediate, hasBias: false);
        upProj = where.Linear(hidden, intermediate, hasBias: false);
        downProj = where.Linear(intermediate, hidden, hasBias: false);
        register_module("gate_proj", gateProj);
        register_module("up_proj", upProj);
        register_module("down_proj", downProj);
    }

    /// <summary>x [..., hidden] → [..., hidden], with the managed code (see <see cref="Forward(Tensor, KernelSet)"/>).</summary>
    public override Tensor forward(Tensor x) => Forward(x, KernelSet.Managed);

    /// <summary>
    /// x [..., hidden] → [..., hidden]. When <paramref name="kernels"/> fuses SwiGLU, gate and up run as one GEMM over
    /// their weights concatenated for this call (a copy of 2·I·H values, small beside the product; the parameters keep
    /// Hugging Face's names and shapes) and the activation as one kernel call; else as two projections, as Hugging Face does.
    /// </summary>
    public Tensor Forward(Tensor x, KernelSet kernels) => Compute(x, kernels, null, false);

    /// <summary>x [..., hidden] → [..., hidden] with the kernels of <paramref name="context"/> and the LoRA adapters it carries.</summary>
    public Tensor Forward(Tensor x, ForwardContext context) => Compute(x, context.Kernels, context.Adapters, context.Training);

    private Tensor Compute(Tensor x, KernelSet kernels, LoraAdapters? adapters, bool training)
    {
        using var scope = torch.NewDisposeScope();
        Tensor hidden;
        if (kernels.Fused(KernelOp.SwiGlu) is { } fused)
        {
            // Cast, then concatenate: the copy is made once, in the compute dtype (half the bytes in bf16).
            var gateUpWeight = torch.cat(new[] { gateProj.weight!.to(x.dtype), upProj.weight!.to(x.dtype) }, 0);
            var gateUp = nn.functional.linear(x, gateUpWeight);
            var gateAdapter = adapters?.For(gateProj);
            var upAdapter = adapters?.For(upProj);
            if (gateAdapter != null || upAdapter != null)
            {
                // The adapters' additions to the gate and up halves, concatenated as the fused product's columns are.
                var gateDelta = gateAdapter?.Delta(x, training) ?? torch.zeros_like(gateUp.narrow(-1, 0, gateUp.shape[^1] / 2));
                var upDelta = upAdapter?.Delta(x, training) ?? torch.zeros_like(gateUp.narrow(-1, 0, gateUp.shape[^1] / 2));
                gateUp = gateUp + torch.cat(new[] { gateDelta, upDelta }, -1);
            }
            hidden = fused.SwiGlu(gateUp);
        }
        else
        {
            hidden = nn.functional.silu(gateProj.Project(x, adapters, training)) * upProj.Project(x, adapters, training);
        }
        return downProj.Project(hidden, adapters, training).MoveToOuterDisposeScope();
    }

    /// <summary>silu(gate) · up for gate_up [..., 2·I] (gate first, then up) → [..., I], fused or managed as <paramref name="kernels"/> says.</summary>
    internal static Tensor Activate(Tensor gateUp, KernelSet kernels)
    {
        if (kernels.Fused(KernelOp.SwiGlu) is { } fused) return fused.SwiGlu(gateUp);
        long width = gateUp.shape[^1] / 2;
        return nn.functional.silu(gateUp.narrow(-1, 0, width)) * gateUp.narrow(-1, width, width);
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
