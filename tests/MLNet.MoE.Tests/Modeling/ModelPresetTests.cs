using System.Text.Json.Nodes;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>
/// The presets have the sizes their documentation gives: <see cref="MoeModelConfig.Tiny"/> (the defaults) 1.09M
/// parameters, <see cref="MoeModelConfig.Small"/> the 29.5M of the benchmark config named <c>tiny</c>
/// (<c>samples/Benchmarks/configs.json</c>).
/// </summary>
public class ModelPresetTests
{
    [Fact]
    public void TinyIsTheDefaultsWithOnePointOneMillionParameters()
    {
        Assert.Equal(new MoeModelConfig().ToJson(), MoeModelConfig.Tiny.ToJson());
        Assert.Equal(1_086_208, MoeModelConfig.Tiny.ParameterCount());
        Assert.Equal(643_840, MoeModelConfig.Tiny.ParameterCount(activeOnly: true));
    }

    [Fact]
    public void SmallIsTheBenchmarkConfigNamedTiny()
    {
        string path = Path.Combine(TestPaths.RepositoryRoot, "samples", "Benchmarks", "configs.json");
        var benchmark = MoeModelConfig.FromJson(JsonNode.Parse(File.ReadAllText(path))!["tiny"]!["model"]!.ToJsonString(), path);
        Assert.Equal(29_483_520, MoeModelConfig.Small.ParameterCount());
        Assert.Equal(benchmark.ParameterCount(), MoeModelConfig.Small.ParameterCount());
        Assert.Equal(benchmark.ParameterCount(activeOnly: true), MoeModelConfig.Small.ParameterCount(activeOnly: true));
        Assert.Equal(
            (benchmark.VocabSize, benchmark.HiddenSize, benchmark.NumHiddenLayers, benchmark.NRoutedExperts, benchmark.NumExpertsPerTok, benchmark.QLoraRank, benchmark.MaxPositionEmbeddings),
            (MoeModelConfig.Small.VocabSize, MoeModelConfig.Small.HiddenSize, MoeModelConfig.Small.NumHiddenLayers, MoeModelConfig.Small.NRoutedExperts, MoeModelConfig.Small.NumExpertsPerTok, MoeModelConfig.Small.QLoraRank, MoeModelConfig.Small.MaxPositionEmbeddings));
    }
}
