using MLNet.MoE;

/// <summary>The architecture the sample trains.</summary>
internal static class BibleModel
{
    /// <summary>MoeModelConfig.Tiny (about 1.7M parameters, 4 layers, 8 routed experts) for the full run; a smaller one in quick mode.</summary>
    public static MoeModelConfig Config(bool quick) => quick
        ? MoeModelConfig.Tiny with { HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 2, KvLoraRank = 16, QLoraRank = 16, QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8, NRoutedExperts = 4 }
        : MoeModelConfig.Tiny;
}
