using MLNet.MoE;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// The forward pass and loss of <see cref="MoeCausalLM.Loss"/> (no multi-token prediction, no activation recomputation,
/// no cache) run as separate calls of the model's parts, in the model's order: the embedding, then per decoder block its
/// attention with residual and its feed-forward (dense, or the MoE layer's router, routed experts, shared experts and
/// residual), then the final norm with the output head and cross-entropy. After each part it calls a lap callback with
/// the part's name, so a caller can synchronise the device there and time the part; the model's own code has no such
/// calls.
/// </summary>
internal static class PartByPartForward
{
    /// <summary>
    /// The total training loss of ids [B, T] against next-token targets [B, T], as <c>model.Loss(ids, targets, context, 0).Total</c>
    /// computes it: mean cross-entropy plus the balance losses of the MoE layers' routing.
    /// </summary>
    public static Tensor Loss(MoeCausalLM model, Tensor ids, Tensor targets, ForwardContext context, Action<string> lap)
    {
        if (context.Cache != null || context.RecomputeActivations)
            throw new ArgumentException("The part-by-part forward runs without a cache and without activation recomputation.", nameof(context));
        using var scope = torch.NewDisposeScope();
        var positions = torch.arange(ids.shape[1], dtype: ScalarType.Int64, device: ids.device);
        var (cos, sin) = model.Rope.CosSin(positions);
        var h = model.Embed(ids, context.ComputeType);
        var routing = RoutingStatistics.None;
        lap("embedding");
        foreach (var layer in model.Layers)
        {
            using var layerScope = torch.NewDisposeScope();
            var attended = layer.AttentionWithResidual(h, cos, sin, model.Rope, context);
            lap("attention");
            var normed = layer.NormBeforeFeedForward(attended, context);
            Tensor output;
            if (layer.Moe is { } moe)
            {
                var flat = normed.reshape(-1, normed.shape[^1]);
                var (indices, weights, scores) = moe.Router.Route(flat);
                lap("moe.router");
                var (routed, load, dropped) = moe.Experts.Forward(flat, indices, weights, context.Training, context.CapacityFactor, context.Kernels);
                lap("moe.experts");
                var feedForward = moe.AddSharedExperts(routed, normed, context);
                lap("moe.shared");
                routing = routing.With(moe.Routing(scores, indices, load, dropped, normed.shape[0], context)?.MoveToOuterDisposeScope());
                output = attended + feedForward;
                lap("moe.residual");
            }
            else
            {
                output = attended + layer.DenseMlp!.Forward(normed, context.Kernels);
                lap("dense-mlp");
            }
            h = output.MoveToOuterDisposeScope();
        }
        var total = model.HeadCrossEntropy(model.FinalNorm(h, context), targets, context);
        if (routing.BalanceLoss() is { } balance) total = total + balance;
        lap("head+loss");
        return total.MoveToOuterDisposeScope();
    }
}
