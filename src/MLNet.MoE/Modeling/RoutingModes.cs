namespace MLNet.MoE;

/// <summary>
/// The config's routing switches, parsed once from their Hugging Face strings (<c>scoring_func</c>, <c>topk_method</c>)
/// when a model part is built; <see cref="MoeModelConfig.Validate"/> refuses any other value, naming the field.
/// </summary>
internal readonly record struct RoutingModes(RouterScoring Scoring, ExpertSelection Selection)
{
    /// <summary>The modes of <paramref name="config"/>.</summary>
    public static RoutingModes Of(MoeModelConfig config) => new(ParseScoring(config.ScoringFunc), ParseSelection(config.TopkMethod));

    /// <summary>Whether the selection bias takes part in the choice (and is moved by balancing).</summary>
    public bool UsesSelectionBias => Selection switch
    {
        ExpertSelection.NoAuxTopK => true,
        ExpertSelection.Greedy or ExpertSelection.GroupLimitedGreedy => false,
        var other => throw Unsupported(other),
    };

    /// <summary>Whether the choice is limited to groups of experts (when the config has more than one group).</summary>
    public bool IsGroupLimited => Selection switch
    {
        ExpertSelection.NoAuxTopK or ExpertSelection.GroupLimitedGreedy => true,
        ExpertSelection.Greedy => false,
        var other => throw Unsupported(other),
    };

    /// <summary>
    /// The error for a routing mode a code path does not handle: every switch over <see cref="RouterScoring"/> or
    /// <see cref="ExpertSelection"/> lists each value and ends here, so a value added later fails loudly, naming
    /// itself, instead of taking another value's branch.
    /// </summary>
    public static NotSupportedException Unsupported<TMode>(TMode mode) where TMode : struct, Enum =>
        new($"The routing mode {typeof(TMode).Name}.{mode} is not handled here.");

    /// <summary>Parses <c>scoring_func</c>; null for an unknown value.</summary>
    public static RouterScoring? TryParseScoring(string value) => value switch
    {
        "sigmoid" => RouterScoring.Sigmoid,
        "softmax" => RouterScoring.Softmax,
        _ => null,
    };

    /// <summary>Parses <c>topk_method</c>; null for an unknown value.</summary>
    public static ExpertSelection? TryParseSelection(string value) => value switch
    {
        "noaux_tc" => ExpertSelection.NoAuxTopK,
        "greedy" => ExpertSelection.Greedy,
        "group_limited_greedy" => ExpertSelection.GroupLimitedGreedy,
        _ => null,
    };

    private static RouterScoring ParseScoring(string value) => TryParseScoring(value)
        ?? throw new ArgumentException($"Model config field 'scoring_func' must be 'sigmoid' or 'softmax', got '{value}'.", "scoring_func");

    private static ExpertSelection ParseSelection(string value) => TryParseSelection(value)
        ?? throw new ArgumentException($"Model config field 'topk_method' must be 'noaux_tc', 'greedy' or 'group_limited_greedy', got '{value}'.", "topk_method");
}
