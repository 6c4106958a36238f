using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// What one forward pass needs besides the token ids (training or inference, the KV cache and position offset),
/// and what the MoE layers report back during training (balance losses, per-expert load, dropped tokens).
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

    /// <summary>The cache to read and extend, or null for a pass over the whole sequence.</summary>
    public KeyValueCache? Cache { get; init; }

    /// <summary>
    /// Recompute each decoder block's activations in the backward pass instead of keeping them (training with gradients
    /// only): less memory for about one more forward pass of compute. See <see cref="RecomputedBlock"/>.
    /// </summary>
    public bool RecomputeActivations { get; init; }

    /// <summary>Balance-loss terms added by the MoE layers (training only).</summary>
    public List<Tensor> BalanceLosses { get; } = new();

    private readonly List<Tensor> retained = new();

    /// <summary>Per MoE layer (by block index): tokens routed to each expert in this pass, [E] int64 (training only).</summary>
    public Dictionary<int, Tensor> ExpertLoad { get; } = new();

    /// <summary>Per MoE layer: token-expert assignments dropped for capacity in this pass, a scalar int64 (training only).</summary>
    public Dictionary<int, Tensor> DroppedAssignments { get; } = new();

    /// <summary>Token-expert assignments made per MoE layer in this pass (tokens × experts per token).</summary>
    public long AssignmentsPerLayer { get; internal set; }

    /// <summary>Keeps <paramref name="tensor"/> alive, outside any dispose scope, until this context is disposed.</summary>
    internal Tensor Retain(Tensor tensor)
    {
        retained.Add(tensor.DetachFromDisposeScope());
        return tensor;
    }

    /// <summary>Frees the statistics tensors the MoE layers recorded and the tensors kept for recomputation (they live outside any dispose scope).</summary>
    public void Dispose()
    {
        foreach (var tensor in retained) tensor.Dispose();
        retained.Clear();
        foreach (var tensor in BalanceLosses) tensor.Dispose();
        foreach (var tensor in ExpertLoad.Values) tensor.Dispose();
        foreach (var tensor in DroppedAssignments.Values) tensor.Dispose();
        BalanceLosses.Clear();
        ExpertLoad.Clear();
        DroppedAssignments.Clear();
    }
}
