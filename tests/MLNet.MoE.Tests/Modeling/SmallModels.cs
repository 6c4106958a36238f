using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>Small model configs and helpers shared by the model and checkpoint tests.</summary>
internal static class SmallModels
{
    /// <summary>A two-block model (one dense, one MoE block) of a few ten thousand parameters, grouped V3 routing.</summary>
    public static MoeModelConfig Base => new()
    {
        VocabSize = 48, HiddenSize = 32, IntermediateSize = 48, MoeIntermediateSize = 16, NumHiddenLayers = 2,
        NumAttentionHeads = 2, NumKeyValueHeads = 2, NSharedExperts = 1, NRoutedExperts = 8, NumExpertsPerTok = 2,
        KvLoraRank = 16, QLoraRank = 24, QkRopeHeadDim = 8, VHeadDim = 8, QkNopeHeadDim = 8, NGroup = 2, TopkGroup = 1,
        FirstKDenseReplace = 1, MaxPositionEmbeddings = 64, RoutedScalingFactor = 2.5, InitializerRange = 0.2,
        BosTokenId = 0, EosTokenId = 1,
    };

    /// <summary>YaRN with factor 4 over 16 original positions and mscale_all_dim 1.</summary>
    public static RopeScaling Yarn => new() { Factor = 4, OriginalMaxPositionEmbeddings = 16, MScale = 1, MScaleAllDim = 1 };

    /// <summary>The configs the round-trip and cache tests run over, by name.</summary>
    public static MoeModelConfig Named(string name) => name switch
    {
        "base" => Base,
        "no-q-lora" => Base with { QLoraRank = null },
        "four-groups" => Base with { NRoutedExperts = 16, NGroup = 4, TopkGroup = 2, NumExpertsPerTok = 3 },
        "two-dense-layers" => Base with { NumHiddenLayers = 3, FirstKDenseReplace = 2 },
        "two-shared-experts" => Base with { NSharedExperts = 2 },
        "no-shared-experts" => Base with { NSharedExperts = 0 },
        "yarn" => Base with { RopeScaling = Yarn },
        "rope-not-interleaved" => Base with { RopeInterleave = false },
        "attention-bias" => Base with { AttentionBias = true },
        "softmax-group-limited" => Base with { ScoringFunc = "softmax", TopkMethod = "group_limited_greedy", NRoutedExperts = 16, NGroup = 4, TopkGroup = 2, NormTopkProb = false },
        "softmax-greedy" => Base with { ScoringFunc = "softmax", TopkMethod = "greedy", NGroup = 1, NormTopkProb = false, RoutedScalingFactor = 1.0 },
        "mtp" => Base with { NumNextnPredictLayers = 1 },
        _ => throw new ArgumentException($"No test config '{name}'.", nameof(name)),
    };

    /// <summary>A random model whose norm scales, biases and routing biases are random too (not the 1/0 defaults), so a round trip that lost them would show.</summary>
    public static MoeCausalLM RandomModel(MoeModelConfig config, long seed = 7)
    {
        var model = new MoeCausalLM(config, seed);
        using var noGrad = torch.no_grad();
        using var generator = new Generator((ulong)(seed + 1000));
        foreach (var (name, tensor) in model.state_dict())
        {
            if (tensor.dim() != 1) continue;
            if (name.EndsWith("e_score_correction_bias", StringComparison.Ordinal))
                tensor.uniform_(-0.1, 0.1, generator);
            else if (name.EndsWith(".bias", StringComparison.Ordinal))
                tensor.normal_(0, 0.1, generator);
            else
                tensor.uniform_(0.5, 1.5, generator);
        }
        return model;
    }

    /// <summary>Random ids [batch, length] below the vocabulary size.</summary>
    public static Tensor RandomIds(MoeModelConfig config, long batch, long length, long seed = 3)
    {
        using var generator = new Generator((ulong)seed);
        return torch.randint(0, config.VocabSize, new[] { batch, length }, dtype: ScalarType.Int64, generator: generator);
    }

    /// <summary>Inference logits [B, T, V] without a cache.</summary>
    public static Tensor Logits(MoeCausalLM model, Tensor ids)
    {
        model.eval();
        using var noGrad = torch.no_grad();
        return model.Forward(ids, new ForwardContext());
    }

    /// <summary>The largest absolute difference of two tensors.</summary>
    public static double MaxDifference(Tensor a, Tensor b)
    {
        using var difference = (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max();
        return difference.item<double>();
    }
}
