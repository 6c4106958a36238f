using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Low-rank adapters on every routed expert of one MoE layer, batched over the experts: for the stacked
/// <c>gate_up_proj</c> [E, 2·I, H] factors A [E, 2r, H] and B [E, 2·I, 2r] (rank 2r, as PEFT's recipe gives the fused
/// gate and up projections: two rank-r adapters' worth), for <c>down_proj</c> [E, H, I] factors A [E, r, I] and
/// B [E, H, r] (B zero at first, A Kaiming-uniform as PEFT draws it), all with scaling α/r.
/// <para>On the dropless grouped-GEMM path (CUDA) the adapters run unmerged when the rank allows it
/// (<see cref="RunsUnmergedIn"/>): each projection's low-rank term is two more grouped GEMMs over the same sorted rows,
/// x·Aᵀ then ·Bᵀ, so no adapted weight is built and the backward pass forms no gradient of the frozen stacked weights
/// (their full size, as much work as the forward product), only the factors' and the rows'. Elsewhere each forward
/// pass adds (α/r)·B·A to the frozen stacked weights (a batched product of rank r) and runs the experts as it always
/// does, so the capacity-padded and exact-segment paths stay as they are.</para>
/// </summary>
internal sealed class LoraExpertAdapter : IDisposable
{
    /// <summary>Creates the factors for <paramref name="experts"/> experts of hidden width <paramref name="hidden"/> and inner width <paramref name="intermediate"/>.</summary>
    public LoraExpertAdapter(long experts, long hidden, long intermediate, int rank, double scaling, Device device, Generator generator)
    {
        using (torch.no_grad())
        {
            GateUpA = new Parameter(torch.empty(experts, 2 * rank, hidden, dtype: ScalarType.Float32).uniform_(-1 / Math.Sqrt(hidden), 1 / Math.Sqrt(hidden), generator).to(device));
            GateUpB = new Parameter(torch.zeros(experts, 2 * intermediate, 2 * rank, dtype: ScalarType.Float32, device: device));
            DownA = new Parameter(torch.empty(experts, rank, intermediate, dtype: ScalarType.Float32).uniform_(-1 / Math.Sqrt(intermediate), 1 / Math.Sqrt(intermediate), generator).to(device));
            DownB = new Parameter(torch.zeros(experts, hidden, rank, dtype: ScalarType.Float32, device: device));
        }
        Scaling = scaling;
    }

    /// <summary>A of <c>gate_up_proj</c> [E, 2r, H].</summary>
    public Parameter GateUpA { get; }

    /// <summary>B of <c>gate_up_proj</c> [E, 2·I, 2r].</summary>
    public Parameter GateUpB { get; }

    /// <summary>A of <c>down_proj</c> [E, r, I].</summary>
    public Parameter DownA { get; }

    /// <summary>B of <c>down_proj</c> [E, H, r].</summary>
    public Parameter DownB { get; }

    /// <summary>α / r.</summary>
    public double Scaling { get; }

    /// <summary>The rank r (<c>down_proj</c>'s; <c>gate_up_proj</c>'s is 2r).</summary>
    public long Rank => DownA.shape[1];

    /// <summary>
    /// Whether the experts computed by <paramref name="kernels"/> run these adapters unmerged: only the grouped GEMM
    /// does, and only when r is a multiple of 8, since <c>torch._grouped_mm</c> needs every row stride a multiple of
    /// 16 bytes and the low-rank rows [ΣT, r] are r bfloat16 values wide (other ranks merge, as the other paths do).
    /// </summary>
    public bool RunsUnmergedIn(KernelSet kernels) => !AlwaysMerged && kernels.Experts == ExpertComputation.GroupedGemm && Rank % 8 == 0;

    /// <summary>Merges on every path, the grouped GEMM's too (the baseline against which the unmerged path is measured).</summary>
    public bool AlwaysMerged { get; set; }

    /// <summary>The four factors in <paramref name="dtype"/>, differentiable: A and B of <c>gate_up_proj</c>, then of <c>down_proj</c>.</summary>
    public (Tensor GateUpA, Tensor GateUpB, Tensor DownA, Tensor DownB) Factors(ScalarType dtype) =>
        (GateUpA.to(dtype), GateUpB.to(dtype), DownA.to(dtype), DownB.to(dtype));

    /// <summary>The adapted stacked weights in <paramref name="dtype"/>: frozen weight + (α/r)·B·A, differentiable in the factors.</summary>
    public (Tensor GateUp, Tensor Down) Adapted(Tensor gateUp, Tensor down, ScalarType dtype) =>
        (gateUp.to(dtype) + torch.bmm(GateUpB.to(dtype), GateUpA.to(dtype)) * Scaling,
         down.to(dtype) + torch.bmm(DownB.to(dtype), DownA.to(dtype)) * Scaling);

    /// <summary>(α/r)·B·A for both stacked weights, float32: what merging adds.</summary>
    public (Tensor GateUp, Tensor Down) MergedDelta() =>
        (torch.bmm(GateUpB.detach(), GateUpA.detach()) * Scaling, torch.bmm(DownB.detach(), DownA.detach()) * Scaling);

    /// <summary>Frees the factors.</summary>
    public void Dispose()
    {
        GateUpA.Dispose();
        GateUpB.Dispose();
        DownA.Dispose();
        DownB.Dispose();
    }
}
