
namespace MLNet.MoE.Tests.Modeling;

/// <summary>Configs that would abort or stall the process (huge sizes) or compute NaN (infinite constants) are refused before any tensor exists, naming the field.</summary>
public class ModelConfigLimitsTests
{
    public static TheoryData<string, Func<MoeModelConfig, MoeModelConfig>> BadConfigs => new()
    {
        { "num_hidden_layers", c => c with { NumHiddenLayers = 100_000 } },
        { "vocab_size", c => c with { VocabSize = int.MaxValue } },
        { "n_routed_experts", c => c with { NRoutedExperts = 1 << 20, NGroup = 1, TopkGroup = 1 } },
        { "rope_theta", c => c with { RopeTheta = double.PositiveInfinity } },
        { "rope_theta", c => c with { RopeTheta = double.NaN } },
        { "rms_norm_eps", c => c with { RmsNormEps = double.PositiveInfinity } },
        { "rms_norm_eps", c => c with { RmsNormEps = double.NaN } },
        { "routed_scaling_factor", c => c with { RoutedScalingFactor = double.PositiveInfinity } },
        { "initializer_range", c => c with { InitializerRange = double.NaN } },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void ARefusedConfigNamesItsField(string field, Func<MoeModelConfig, MoeModelConfig> change)
    {
        var config = change(SmallModels.Base);
        var error = Assert.ThrowsAny<ArgumentException>(() => new MoeCausalLM(config));
        Assert.Contains(field, error.Message);
    }

    [Fact]
    public void AConfigWithinTheFieldLimitsButBeyondMemoryIsRefusedBeforeAllocating()
    {
        // 1,000 layers of width 8,192: every field within its limit, about 2.8 trillion parameters in all.
        var config = SmallModels.Base with { NumHiddenLayers = 1000, HiddenSize = 8192, IntermediateSize = 1 << 16, MoeIntermediateSize = 1 << 14, NRoutedExperts = 256, NGroup = 8, TopkGroup = 4 };
        var error = Assert.ThrowsAny<ArgumentException>(() => new MoeCausalLM(config));
        Assert.Contains("parameters", error.Message);
        Assert.Contains("num_hidden_layers", error.Message);
    }
}
