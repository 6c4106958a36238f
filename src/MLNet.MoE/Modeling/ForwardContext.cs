using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// What one forward pass needs besides the token ids (training or inference, the KV cache and position offset). What a
/// pass produces (its output and, in training, the MoE layers' <see cref="RoutingStatistics"/>) is returned by it; the
/// context only keeps alive, until it is disposed, the tensors that activation recomputation needs in the backward pass.
/// </summary>
internal sealed class ForwardContext : IDisposable
{
    /// <summary>True while training: experts run with a token capacity and routing statistics are collected.</summary>
    public bool Training { get; init; }

    /// <summary>Expert capacity during capacity-padded training, as a multiple of the mean tokens per expert; tokens over it are dropped.</summary>
    public double CapacityFactor { get; init; } = 2.0;

    /// <summary>Weight α of the sequence-wise balance loss (sigmoid routing) or of the expert-level auxiliary loss (softmax routing).</summary>
    public double BalanceLossWeight { get; init; }

    /// <summary>The dtype activations are computed in: float32 (default), or bfloat16 on GPUs. Parameters stay float32.</summary>
    public ScalarType ComputeType { get; init; } = ScalarType.Float32;

    /// <summary>
    /// Fused kernel or managed code for each operation, and how the routed experts compute. Default
    /// <see cref="KernelSet.Managed"/> (Hugging Face's arithmetic); training loops pass the set their start-up probe chose.
    /// </summary>
    public KernelSet Kernels { get; init; } = KernelSet.Managed;

    /// <summary>
    /// LoRA adapters to add to the frozen projections and experts they adapt, and whose trained router and norm copies
    /// replace the base's weights (null for none): the base model is shared, the adapters come with the pass.
    /// </summary>
    public LoraAdapters? Adapters { get; init; }

    /// <summary>The cache to read and extend, or null for a pass over the whole sequence.</summary>
    public KeyValueCache? Cache { get; init; }

    /// <summary>
    /// Recompute each decoder block's activations in the backward pass instead of keeping them (training with gradients
    /// only): less memory for about one more forward pass of compute. See <see cref="RecomputedBlock"/>.
    /// </summary>
    public bool RecomputeActivations { get; init; }

    /// <summary>
    /// With <see cref="RecomputeActivations"/>, the last this many decoder blocks keep their activations and are not
    /// recomputed. The backward pass reaches them first and frees their activations before it recomputes any other block,
    /// so one kept block costs no more peak memory than the recomputation it saves, and each further one costs a block's
    /// activations. Default 0: every block is recomputed.
    /// </summary>
    public int LastBlocksNotRecomputed { get; init; }

    private readonly List<Tensor> retained = new();

    /// <summary>Keeps <paramref name="tensor"/> alive, outside any dispose scope, until this context is disposed.</summary>
    internal Tensor Retain(Tensor tensor)
    {
        retained.Add(tensor.DetachFromDisposeScope());
        return tensor;
    }

    /// <summary>Frees the tensors kept for recomputation (they live outside any dispose scope).</summary>
    public void Dispose()
    {
        foreach (var tensor in retained) tensor.Dispose();
        retained.Clear();
    }
}
