using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The routed SwiGLU experts of one MoE layer, stacked as Hugging Face holds them in memory:
/// <c>gate_up_proj</c> [E, 2·I, H] (gate rows, then up rows) and <c>down_proj</c> [E, H, I].
/// Tokens are sorted by expert into a capacity-padded buffer [E, C, H] and the experts run as two batched matrix
/// products: no loop over experts or tokens. During training C = ⌈capacity factor · N·K / E⌉ and assignments over
/// capacity are dropped (and counted) with no host synchronisation; at inference C is the largest expert load, so
/// nothing is dropped. Inference on the CPU skips the padding: each expert multiplies exactly its own tokens.
/// Dropless training (<see cref="ExpertComputation"/>) runs those exact segments on the CPU and two grouped GEMMs on CUDA.
/// </summary>
internal sealed class RoutedExperts : nn.Module
{
    private readonly int experts;

    /// <summary>Creates <c>n_routed_experts</c> experts of width <c>moe_intermediate_size</c>.</summary>
    public RoutedExperts(MoeModelConfig config, TensorPlacement? placement = null) : base(nameof(RoutedExperts))
    {
        experts = config.NRoutedExperts;
        int intermediate = config.MoeIntermediateSize;
        var where = placement ?? TensorPlacement.Cpu;
        register_parameter("gate_up_proj", new Parameter(where.Empty(experts, 2L * intermediate, config.HiddenSize)));
        register_parameter("down_proj", new Parameter(where.Empty(experts, config.HiddenSize, intermediate)));
    }

    /// <summary>Stacked gate and up projections [E, 2·I, H].</summary>
    public Parameter GateUpProj => get_parameter("gate_up_proj")!;

    /// <summary>Stacked down projections [E, H, I].</summary>
    public Parameter DownProj => get_parameter("down_proj")!;

    /// <summary>
    /// Σ_k w[n,k] · expert_{idx[n,k]}(x[n]) for x [N, H], indices/weights [N, K], with the managed code and, in training,
    /// the capacity-padded buffer. Returns the output [N, H], the per-expert assignment counts [E] and the dropped
    /// assignments (scalar), both int64.
    /// </summary>
    public (Tensor Output, Tensor Load, Tensor Dropped) Forward(Tensor x, Tensor indices, Tensor weights, bool training, double capacityFactor) =>
        Forward(x, indices, weights, training, capacityFactor, KernelSet.Managed);

    /// <summary>
    /// Σ_k w[n,k] · expert_{idx[n,k]}(x[n]) for x [N, H], indices/weights [N, K], computed as
    /// <see cref="KernelSet.Experts"/> says (<paramref name="capacityFactor"/> applies to capacity-padded training only).
    /// Returns the output [N, H], the per-expert assignment counts [E] and the dropped assignments (scalar), both int64.
    /// </summary>
    public (Tensor Output, Tensor Load, Tensor Dropped) Forward(Tensor x, Tensor indices, Tensor weights, bool training, double capacityFactor, KernelSet kernels, LoraExpertAdapter? adapter = null)
    {
        using var scope = torch.NewDisposeScope();
        long n = x.shape[0];
        long hidden = x.shape[1];
        long k = indices.shape[1];
        long assignments = n * k;
        var device = x.device;
        var flatExpert = indices.reshape(-1);
        var flatToken = torch.arange(n, dtype: ScalarType.Int64, device: device).repeat_interleave(k);
        var flatWeight = weights.reshape(-1);
        var order = flatExpert.sort(dim: 0, descending: false, stable: true).Indices;
        var sortedExpert = flatExpert.index_select(0, order);
        var sortedToken = flatToken.index_select(0, order);
        var sortedWeight = flatWeight.index_select(0, order);
        var load = torch.bincount(flatExpert, minlength: experts);
        // The stacked weights in the compute type, with the LoRA adapter's low-rank addition merged in when one is
        // attached, unless the grouped GEMM runs it unmerged (only that path can).
        var unmergedAdapter = adapter != null && adapter.RunsUnmergedIn(kernels) ? adapter : null;
        var mergedAdapter = unmergedAdapter is null ? adapter : null;
        var (gateUpWeight, downWeight) = mergedAdapter?.Adapted(GateUpProj, DownProj, x.dtype) ?? (GateUpProj.to(x.dtype), DownProj.to(x.dtype));
        if (kernels.Experts == ExpertComputation.GroupedGemm)
        {
            var grouped = GroupedGemm(x, sortedToken, sortedWeight, load, gateUpWeight, downWeight, kernels.Fused(KernelOp.GroupedMm)!, unmergedAdapter);
            return (grouped.MoveToOuterDisposeScope(), load.MoveToOuterDisposeScope(), torch.zeros(Array.Empty<long>(), dtype: ScalarType.Int64, device: device).MoveToOuterDisposeScope());
        }
        bool exact = training ? kernels.Experts == ExpertComputation.ExactSegments : device.type == DeviceType.CPU;
        if (exact)
        {
            var segments = ExactSegments(x, sortedToken, sortedWeight, load, gateUpWeight, downWeight, kernels);
            return (segments.MoveToOuterDisposeScope(), load.MoveToOuterDisposeScope(), torch.zeros(Array.Empty<long>(), dtype: ScalarType.Int64, device: device).MoveToOuterDisposeScope());
        }
        var starts = load.cumsum(0) - load;
        var position = torch.arange(assignments, dtype: ScalarType.Int64, device: device) - starts.index_select(0, sortedExpert);
        long capacity = training
            ? Math.Max(1, (long)Math.Ceiling(capacityFactor * assignments / experts))
            : Math.Max(1, load.max().item<long>());
        var keep = position < capacity;
        long slots = experts * capacity;
        // Assignments over capacity are written to one spare row past the experts' slots and read back from slot 0
        // with weight 0, so dropping needs no boolean indexing (which would synchronise with the host).
        var slot = torch.where(keep, sortedExpert * capacity + position, torch.full_like(position, slots));
        var buffer = torch.zeros(slots + 1, hidden, dtype: x.dtype, device: device);
        buffer.index_copy_(0, slot, x.index_select(0, sortedToken));
        var batched = buffer.narrow(0, 0, slots).view(experts, capacity, hidden);
        var gateUp = torch.bmm(batched, gateUpWeight.transpose(1, 2));
        var activated = SwiGluMlp.Activate(gateUp, kernels);
        var expertOut = torch.bmm(activated, downWeight.transpose(1, 2)).reshape(slots, hidden);
        var readSlot = torch.where(keep, slot, torch.zeros_like(slot));
        var perAssignment = expertOut.index_select(0, readSlot) * (sortedWeight * keep.to(sortedWeight.dtype)).to(x.dtype).unsqueeze(1);
        var output = torch.zeros(n, hidden, dtype: x.dtype, device: device).index_add_(0, sortedToken, perAssignment, 1.0);
        var dropped = keep.logical_not().sum();
        return (output.MoveToOuterDisposeScope(), load.MoveToOuterDisposeScope(), dropped.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Each expert runs on exactly its own tokens (the sorted assignments are contiguous per expert), with no padding
    /// to a common capacity: inference on the CPU, and dropless training on the CPU. On the CPU a batched product gains
    /// nothing from the padding, and with uneven loads the padded buffer multiplied the experts' work (at evaluation the
    /// capacity is the largest load). Reading the load on the host costs nothing there; on CUDA it would synchronise.
    /// </summary>
    private Tensor ExactSegments(Tensor x, Tensor sortedToken, Tensor sortedWeight, Tensor load, Tensor gateUpAll, Tensor downAll, KernelSet kernels)
    {
        long[] counts = load.cpu().data<long>().ToArray();
        var gathered = x.index_select(0, sortedToken);
        var outputs = new List<Tensor>(experts);
        long start = 0;
        for (int e = 0; e < experts; e++)
        {
            if (counts[e] == 0) continue;
            var segment = gathered.narrow(0, start, counts[e]);
            var gateUp = segment.matmul(gateUpAll[e].t());
            var activated = SwiGluMlp.Activate(gateUp, kernels);
            outputs.Add(activated.matmul(downAll[e].t()));
            start += counts[e];
        }
        var perAssignment = torch.cat(outputs, 0) * sortedWeight.to(x.dtype).unsqueeze(1);
        return torch.zeros(x.shape[0], x.shape[1], dtype: x.dtype, device: x.device).index_add_(0, sortedToken, perAssignment, 1.0);
    }

    /// <summary>
    /// Dropless experts on CUDA: the sorted assignments [N·K, H] go through two grouped GEMMs whose groups are the
    /// experts' contiguous segments, given by the cumulative loads on the device, so nothing is padded, nothing dropped
    /// and nothing read on the host. With <paramref name="unmergedAdapter"/>, its low-rank terms are grouped GEMMs of
    /// their own beside the frozen weights (see <see cref="LoraExpertAdapter"/>).
    /// </summary>
    private static Tensor GroupedGemm(Tensor x, Tensor sortedToken, Tensor sortedWeight, Tensor load, Tensor gateUp, Tensor down, TorchScriptKernels kernels, LoraExpertAdapter? unmergedAdapter)
    {
        var gathered = x.index_select(0, sortedToken);
        var offsets = load.cumsum(0).to(ScalarType.Int32);
        Tensor expertOut;
        if (unmergedAdapter is null)
        {
            expertOut = kernels.GroupedSwiGluExperts(gathered, gateUp, down, offsets);
        }
        else
        {
            var (gateUpA, gateUpB, downA, downB) = unmergedAdapter.Factors(x.dtype);
            expertOut = kernels.GroupedSwiGluExpertsWithLora(gathered, gateUp, down, offsets, gateUpA, gateUpB, downA, downB, unmergedAdapter.Scaling);
        }
        var perAssignment = expertOut * sortedWeight.to(x.dtype).unsqueeze(1);
        return torch.zeros(x.shape[0], x.shape[1], dtype: x.dtype, device: x.device).index_add_(0, sortedToken, perAssignment, 1.0);
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
