using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>Incremental decoding with the key/value cache against full passes over the whole sequence.</summary>
public class KeyValueCacheTests
{
    public static TheoryData<string> ConfigNames => new() { "yarn", "no-q-lora", "rope-not-interleaved" };

    [Theory]
    [MemberData(nameof(ConfigNames))]
    public void GreedyGenerationIsTheSameWithAndWithoutTheCache(string configName)
    {
        var config = SmallModels.Named(configName) with { QLoraRank = configName == "yarn" ? null : SmallModels.Base.QLoraRank };
        using var model = SmallModels.RandomModel(config);
        int[] prompt = { 5, 17, 3, 42, 8 };
        int[] cached = TokenGenerator.Generate(model, prompt, 12, new TokenSampler(0, 0, 1, 1), useCache: true);
        int[] uncached = TokenGenerator.Generate(model, prompt, 12, new TokenSampler(0, 0, 1, 1), useCache: false);
        Assert.Equal(12, cached.Length);
        Assert.Equal(uncached, cached);
        Assert.True(cached.Distinct().Count() > 1, "the model generated one token over and over: too weak a check");
    }

    [Theory]
    [MemberData(nameof(ConfigNames))]
    public void PrefillThenSeveralTokensThenOneMatchesOneFullPass(string configName)
    {
        var config = SmallModels.Named(configName);
        using var scope = torch.NewDisposeScope();
        using var model = SmallModels.RandomModel(config);
        model.eval();
        using var noGrad = torch.no_grad();
        var ids = SmallModels.RandomIds(config, 2, 9, seed: 4);
        var full8 = model.Forward(ids.narrow(1, 0, 8), new ForwardContext());
        var full9 = model.Forward(ids, new ForwardContext());

        using var cache = new KeyValueCache(config.NumHiddenLayers);
        var first = model.Forward(ids.narrow(1, 0, 5), new ForwardContext { Cache = cache });
        Assert.Equal(5, cache.Length);
        var next = model.Forward(ids.narrow(1, 5, 3), new ForwardContext { Cache = cache });
        Assert.Equal(8, cache.Length);
        var last = model.Forward(ids.narrow(1, 8, 1), new ForwardContext { Cache = cache });
        Assert.Equal(9, cache.Length);

        Assert.True(SmallModels.MaxDifference(full8.narrow(1, 0, 5), first) < 1e-5);
        double several = SmallModels.MaxDifference(full8.narrow(1, 5, 3), next);
        Assert.True(several < 1e-5, $"3 tokens after a 5-token prefill: max difference {several:E3}");
        double one = SmallModels.MaxDifference(full9.narrow(1, 8, 1), last);
        Assert.True(one < 1e-5, $"1 token after 8 cached: max difference {one:E3}");
        // The check can fail: the last position's logits depend on the earlier tokens.
        var shuffled = torch.cat(new[] { ids.narrow(1, 4, 4), ids.narrow(1, 0, 4), ids.narrow(1, 8, 1) }, dim: 1);
        Assert.True(SmallModels.MaxDifference(model.Forward(shuffled, new ForwardContext()).narrow(1, 8, 1), last) > 1e-3);
    }
}
