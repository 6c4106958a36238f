using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// What one MoE layer's routing did in a training forward pass: tokens sent to each expert, assignments dropped for
/// capacity, and its balance loss (when the pass has a balance-loss weight). The tensors live in the caller's dispose
/// scope, like the pass's other outputs.
/// </summary>
/// <param name="Layer">The layer's index: its decoder block, or <c>num_hidden_layers + k</c> for MTP depth k + 1.</param>
/// <param name="Load">Tokens routed to each expert, [E] int64.</param>
/// <param name="Dropped">Token-expert assignments dropped for capacity, a scalar int64.</param>
/// <param name="Assignments">Token-expert assignments made (tokens × experts per token).</param>
/// <param name="BalanceLoss">The layer's balance loss (a scalar with its gradient), or null without a balance-loss weight.</param>
internal sealed record LayerRouting(int Layer, Tensor Load, Tensor Dropped, long Assignments, Tensor? BalanceLoss)
{
    /// <summary>Moves the tensors to the dispose scope around the current one, as a forward pass does with its output.</summary>
    public LayerRouting MoveToOuterDisposeScope()
    {
        Load.MoveToOuterDisposeScope();
        Dropped.MoveToOuterDisposeScope();
        BalanceLoss?.MoveToOuterDisposeScope();
        return this;
    }
}
