
namespace MLNet.MoE.Tests.Modeling;

/// <summary>The tensor layout computed from a config (used to check a weights block before building a model) is the built model's state dict.</summary>
public class ModelTensorLayoutTests
{
    public static TheoryData<string> Configs => new() { "base", "mtp", "plain-query", "bias", "dense", "grouped" };

    private static MoeModelConfig Config(string name) => name switch
    {
        "mtp" => SmallModels.Base with { NumNextnPredictLayers = 2 },
        "plain-query" => SmallModels.Base with { QLoraRank = null },
        "bias" => SmallModels.Base with { AttentionBias = true },
        "dense" => SmallModels.Base with { FirstKDenseReplace = SmallModels.Base.NumHiddenLayers },
        "grouped" => SmallModels.Base with { NRoutedExperts = 8, NGroup = 4, TopkGroup = 2, NSharedExperts = 2 },
        _ => SmallModels.Base,
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void TheComputedLayoutIsTheModelsStateDict(string name)
    {
        var config = Config(name);
        using var model = new MoeCausalLM(config);
        var actual = model.state_dict().Select(kv => (kv.Key, string.Join(",", kv.Value.shape))).OrderBy(t => t.Key, StringComparer.Ordinal).ToList();
        var computed = ModelTensorLayout.Of(config).Select(t => (t.Name, string.Join(",", t.Shape))).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(actual, computed);
    }
}
