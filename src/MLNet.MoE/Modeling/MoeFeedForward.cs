using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// DeepSeekMoE feed-forward: routed experts chosen by <see cref="ExpertRouter"/> (<c>mlp.gate</c>,
/// <c>mlp.experts</c>) plus always-active shared experts (<c>mlp.shared_experts</c>, one SwiGLU of width
/// <c>moe_intermediate_size × n_shared_experts</c>).
/// </summary>
internal sealed class MoeFeedForward : nn.Module
{
    private readonly MoeModelConfig config;
    private readonly int layerIndex;
    private readonly ExpertRouter gate;
    private readonly RoutedExperts routedExperts;
    private readonly SwiGluMlp? sharedExperts;
    private readonly RouterScoring scoring;

    /// <summary>Creates the MoE feed-forward of block <paramref name="layerIndex"/>.</summary>
    public MoeFeedForward(MoeModelConfig config, int layerIndex, TensorPlacement? placement = null) : base(nameof(MoeFeedForward))
    {
        scoring = RoutingModes.Of(config).Scoring;
        this.config = config;
        this.layerIndex = layerIndex;
        gate = new ExpertRouter(config, placement);
        routedExperts = new RoutedExperts(config, placement);
        register_module("gate", gate);
        register_module("experts", routedExperts);
        if (config.NSharedExperts > 0)
        {
            sharedExperts = new SwiGluMlp(config.HiddenSize, (long)config.MoeIntermediateSize * config.NSharedExperts, placement);
            register_module("shared_experts", sharedExperts);
        }
    }

    /// <summary>The router.</summary>
    public ExpertRouter Router => gate;

    /// <summary>The routed experts.</summary>
    public RoutedExperts Experts => routedExperts;

    /// <summary>
    /// x [B, T, H] → [B, T, H], and in training the layer's routing (load, dropped assignments, balance loss); null
    /// outside training.
    /// </summary>
    public (Tensor Output, LayerRouting? Routing) Forward(Tensor x, ForwardContext context)
    {
        using var scope = torch.NewDisposeScope();
        var flat = x.reshape(-1, x.shape[^1]);
        var (indices, weights, scores) = gate.Route(flat, context.Adapters?.WeightFor(gate));
        var (routed, load, dropped) = routedExperts.Forward(flat, indices, weights, context.Training, context.CapacityFactor, context.Kernels, context.Adapters?.For(routedExperts));
        var output = AddSharedExperts(routed, x, context);
        var routing = Routing(scores, indices, load, dropped, x.shape[0], context);
        return (output.MoveToOuterDisposeScope(), routing?.MoveToOuterDisposeScope());
    }

    /// <summary>The routed experts' output [B·T, H] in the shape of <paramref name="x"/> [B, T, H], plus the shared experts' output for <paramref name="x"/>.</summary>
    public Tensor AddSharedExperts(Tensor routed, Tensor x, ForwardContext context)
    {
        var output = routed.view(x.shape);
        return sharedExperts != null ? output + sharedExperts.Forward(x, context) : output;
    }

    /// <summary>
    /// In training, this layer's routing: per-expert <paramref name="load"/>, the <paramref name="dropped"/> assignments
    /// and, with a balance-loss weight, the balance loss of <paramref name="scores"/> and <paramref name="indices"/> over
    /// <paramref name="batch"/> sequences. Null outside training.
    /// </summary>
    public LayerRouting? Routing(Tensor scores, Tensor indices, Tensor load, Tensor dropped, long batch, ForwardContext context)
    {
        if (!context.Training) return null;
        var balanceLoss = context.BalanceLossWeight > 0 ? BalanceLoss(scores, indices, batch, context.BalanceLossWeight) : null;
        return new LayerRouting(layerIndex, load, dropped, indices.numel(), balanceLoss);
    }

    /// <summary>
    /// Sigmoid routing: DeepSeek-V3's sequence-wise balance loss α Σ_i f_i P_i per sequence, averaged over sequences,
    /// with f_i = E/(K·T) · (tokens of the sequence choosing i) and P_i the mean of the normalised scores s/Σs.
    /// Softmax routing: DeepSeek-V2's expert-level loss, the same formula over the whole batch with softmax scores.
    /// </summary>
    private Tensor BalanceLoss(Tensor scores, Tensor indices, long batch, double alpha)
    {
        int experts = config.NRoutedExperts;
        int k = config.NumExpertsPerTok;
        bool perSequence = scoring switch
        {
            RouterScoring.Sigmoid => true,
            RouterScoring.Softmax => false,
            var other => throw RoutingModes.Unsupported(other),
        };
        long groups = perSequence ? batch : 1;
        var normalised = perSequence ? scores / (scores.sum(-1, keepdim: true) + 1e-20) : scores;
        var byGroup = normalised.view(groups, -1, experts);
        long tokens = byGroup.shape[1];
        var chosen = torch.zeros(scores.shape[0], experts, dtype: ScalarType.Float32, device: scores.device)
            .scatter_(1, indices, torch.ones(indices.shape, dtype: ScalarType.Float32, device: scores.device))
            .view(groups, tokens, experts);
        var f = chosen.sum(1) * ((double)experts / (k * tokens));
        var p = byGroup.mean(new long[] { 1 });
        return (f * p).sum(-1).mean() * alpha;
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
