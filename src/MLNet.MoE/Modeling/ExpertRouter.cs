using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Chooses the routed experts of each token (Hugging Face's <c>mlp.gate</c>: <c>weight</c> [E, H] and the
/// <c>e_score_correction_bias</c> buffer [E]). Logits are computed in float32.
/// <list type="bullet">
/// <item>DeepSeek-V3 (<c>scoring_func = sigmoid</c>, <c>topk_method = noaux_tc</c>): scores s = sigmoid(logits); the
/// choice uses s + bias, limited to the <c>topk_group</c> groups whose top-2 biased scores sum highest (dropped groups
/// are masked with 0, as Hugging Face does); weights are the unbiased s of the chosen experts, normalised when
/// <c>norm_topk_prob</c>, times <c>routed_scaling_factor</c>.</item>
/// <item>DeepSeek-V2 / DeepSeekMoE (<c>scoring_func = softmax</c>): scores = softmax(logits); <c>greedy</c> top-k, or
/// <c>group_limited_greedy</c> (group score = its max; dropped groups masked with 0); weights = the chosen scores
/// (normalised only when <c>norm_topk_prob</c>) times <c>routed_scaling_factor</c>.</item>
/// </list>
/// </summary>
internal sealed class ExpertRouter : nn.Module
{
    private readonly MoeModelConfig config;
    private readonly RoutingModes modes;

    /// <summary>Creates the router of a MoE layer.</summary>
    public ExpertRouter(MoeModelConfig config, TensorPlacement? placement = null) : base(nameof(ExpertRouter))
    {
        this.config = config;
        modes = RoutingModes.Of(config);
        // The router computes its logits in float32 whatever the weight type (as Hugging Face does); its small matrix stays float32.
        var where = placement ?? TensorPlacement.Cpu;
        register_parameter("weight", new Parameter(torch.empty(config.NRoutedExperts, config.HiddenSize, dtype: ScalarType.Float32, device: where.Device)));
        register_buffer("e_score_correction_bias", where.Float32Zeros(config.NRoutedExperts), persistent: true);
    }

    /// <summary>The router matrix [E, H] (looked up on each use: moving the module to a device replaces it).</summary>
    public Parameter Weight => get_parameter("weight")!;

    /// <summary>The selection bias [E] (DeepSeek-V3's auxiliary-loss-free balancing moves it between steps; no gradient).</summary>
    public Tensor CorrectionBias => get_buffer("e_score_correction_bias")!;

    /// <summary>
    /// DeepSeek-V3's auxiliary-loss-free balancing, applied after an optimizer step: every expert's selection bias moves by
    /// <paramref name="rate"/> towards the mean load, <c>b_i += γ · sign(mean load − load_i)</c>, scaled by
    /// <paramref name="apply"/> (a device 0/1 scalar; 0 for a skipped step). Only the <c>noaux_tc</c> method uses the bias.
    /// </summary>
    public void UpdateCorrectionBias(Tensor load, double rate, Tensor apply)
    {
        if (rate <= 0 || !modes.UsesSelectionBias) return;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var l = load.to(ScalarType.Float32);
        CorrectionBias.add_((l.mean() - l).sign() * (apply.to(ScalarType.Float32) * (float)rate));
    }

    /// <summary>
    /// Routes x [N, H]: returns the chosen experts [N, K] (int64), their gate weights [N, K] (float32) and the
    /// per-token scores [N, E] (float32; sigmoid or softmax, before bias) for balance losses. <paramref name="weight"/>
    /// [E, H], when given, replaces the router matrix (a LoRA run's trained copy, <see cref="LoraAdapters.WeightFor(ExpertRouter)"/>);
    /// the selection bias is this router's either way.
    /// </summary>
    public (Tensor Indices, Tensor Weights, Tensor Scores) Route(Tensor x, Tensor? weight = null)
    {
        using var scope = torch.NewDisposeScope();
        int experts = config.NRoutedExperts;
        int k = config.NumExpertsPerTok;
        int groups = config.NGroup;
        // The router product runs in float32 whatever the compute type, as Hugging Face's DeepseekV3TopkRouter does: with
        // 64 or more experts whose scores lie close together, a bfloat16 product flips the top-k choice of many tokens,
        // and a bfloat16 checkpoint then scores visibly unlike transformers (the product is [N, H] × [H, E], cheap).
        var logits = nn.functional.linear(x.to(ScalarType.Float32), (weight ?? Weight).to(ScalarType.Float32));
        var scores = modes.Scoring switch
        {
            RouterScoring.Sigmoid => logits.sigmoid(),
            RouterScoring.Softmax => logits.softmax(-1),
            var other => throw RoutingModes.Unsupported(other),
        };
        var choice = modes.UsesSelectionBias ? scores + CorrectionBias : scores;
        bool grouped = modes.IsGroupLimited && groups > 1;
        if (grouped)
        {
            var byGroup = choice.view(-1, groups, experts / groups);
            var groupScores = modes.Selection switch
            {
                ExpertSelection.NoAuxTopK => byGroup.topk(2, dim: -1).values.sum(-1),
                ExpertSelection.GroupLimitedGreedy => byGroup.max(-1).values,
                var other => throw RoutingModes.Unsupported(other),
            };
            var groupIndex = groupScores.topk(config.TopkGroup, dim: -1, largest: true, sorted: false).indexes;
            var groupMask = torch.zeros_like(groupScores).scatter_(1, groupIndex, torch.ones_like(groupIndex, dtype: groupScores.dtype));
            var scoreMask = groupMask.unsqueeze(-1).expand(-1, groups, experts / groups).reshape(-1, experts);
            choice = choice.masked_fill(scoreMask.logical_not(), 0.0);
        }
        var indices = choice.topk(k, dim: -1, largest: true, sorted: false).indexes;
        var weights = scores.gather(1, indices);
        if (config.NormTopkProb)
        {
            weights = weights / (weights.sum(-1, keepdim: true) + 1e-20);
        }
        weights = weights * config.RoutedScalingFactor;
        return (indices.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope(), scores.MoveToOuterDisposeScope());
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
