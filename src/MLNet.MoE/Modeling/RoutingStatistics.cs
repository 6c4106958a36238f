using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The routing results of one forward pass, returned with its output: one <see cref="LayerRouting"/> per MoE layer that
/// ran in training (none at inference). Immutable; the layers' tensors live in the caller's dispose scope.
/// </summary>
internal sealed class RoutingStatistics
{
    private readonly LayerRouting[] layers;

    private RoutingStatistics(LayerRouting[] layers) => this.layers = layers;

    /// <summary>A pass with no MoE layer in training.</summary>
    public static RoutingStatistics None { get; } = new([]);

    /// <summary>The layers, in the order they ran.</summary>
    public IReadOnlyList<LayerRouting> Layers => layers;

    /// <summary>These layers and <paramref name="layer"/> (this when it is null).</summary>
    public RoutingStatistics With(LayerRouting? layer) => layer == null ? this : new([.. layers, layer]);

    /// <summary>These layers and those of <paramref name="other"/>.</summary>
    public RoutingStatistics With(RoutingStatistics other) => other.layers.Length == 0 ? this : layers.Length == 0 ? other : new([.. layers, .. other.layers]);

    /// <summary>The sum of the layers' balance losses (a scalar with its gradient), or null when no layer has one.</summary>
    public Tensor? BalanceLoss()
    {
        var losses = layers.Where(l => l.BalanceLoss is not null).Select(l => l.BalanceLoss!).ToList();
        return losses.Count == 0 ? null : losses.Count == 1 ? losses[0] : torch.stack(losses).sum();
    }

    /// <summary>Moves every layer's tensors to the dispose scope around the current one.</summary>
    public RoutingStatistics MoveToOuterDisposeScope()
    {
        foreach (var layer in layers) layer.MoveToOuterDisposeScope();
        return this;
    }
}
