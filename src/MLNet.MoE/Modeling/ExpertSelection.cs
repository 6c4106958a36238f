namespace MLNet.MoE;

/// <summary>How the router picks each token's experts from the scores (<c>topk_method</c>).</summary>
internal enum ExpertSelection
{
    /// <summary><c>noaux_tc</c>: DeepSeek-V3's choice on biased scores within the groups whose top-2 scores sum highest.</summary>
    NoAuxTopK,

    /// <summary><c>greedy</c>: the top-k scores, groups ignored.</summary>
    Greedy,

    /// <summary><c>group_limited_greedy</c>: DeepSeek-V2's top-k within the groups of the highest maximum score.</summary>
    GroupLimitedGreedy,
}
