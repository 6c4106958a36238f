
namespace MLNet.MoE.Tests.Pipeline;

/// <summary>Infinite, NaN and absurdly large option values are refused by <c>Validate</c>, naming the option, before any training.</summary>
public class OptionBoundsTests
{
    public static TheoryData<string, Action<LanguageModelOptions>> LanguageModelCases => new()
    {
        { "Epochs", o => { o.MaxSteps = 0; o.Epochs = double.PositiveInfinity; } },
        { "Epochs", o => { o.MaxSteps = 0; o.Epochs = 1e12; } },
        { "Epochs", o => o.Epochs = double.NaN },
        { "BatchSize", o => o.BatchSize = int.MaxValue },
        { "BatchSize", o => { o.BatchSize = 65536; o.ContextLength = 4096; } },
        { "ContextLength", o => o.ContextLength = 1_000_000_000 },
        { "CapacityFactor", o => o.CapacityFactor = double.PositiveInfinity },
        { "CapacityFactor", o => o.CapacityFactor = 1e9 },
        { "LearningRate", o => o.LearningRate = double.PositiveInfinity },
        { "WeightDecay", o => o.WeightDecay = double.PositiveInfinity },
        { "WeightDecay", o => o.WeightDecay = 1e9 },
        { "BalanceLossWeight", o => o.BalanceLossWeight = double.PositiveInfinity },
        { "BiasUpdateRate", o => o.BiasUpdateRate = double.NaN },
        { "MultiTokenPredictionWeight", o => o.MultiTokenPredictionWeight = double.PositiveInfinity },
        { "GradientClipNorm", o => o.GradientClipNorm = double.PositiveInfinity },
        { "Temperature", o => o.Generation = new GenerationOptions { Temperature = double.PositiveInfinity } },
        { "Temperature", o => o.Generation = new GenerationOptions { Temperature = 1e308 } },
        { "MaxNewTokens", o => o.Generation = new GenerationOptions { MaxNewTokens = int.MaxValue } },
    };

    [Theory]
    [MemberData(nameof(LanguageModelCases))]
    public void LanguageModelOptionsRefuseUnboundedValues(string option, Action<LanguageModelOptions> set)
    {
        var options = new LanguageModelOptions();
        options.Validate();
        set(options);
        var error = Assert.ThrowsAny<ArgumentException>(options.Validate);
        Assert.Contains(option, error.Message);
    }

    public static TheoryData<string, Action<MoeTextClassificationOptions>> ClassifierCases => new()
    {
        { "Epochs", o => o.Epochs = int.MaxValue },
        { "BatchSize", o => o.BatchSize = int.MaxValue },
        { "CapacityFactor", o => o.CapacityFactor = double.PositiveInfinity },
        { "LearningRate", o => o.LearningRate = double.NaN },
        { "WeightDecay", o => o.WeightDecay = double.PositiveInfinity },
        { "BalanceLossWeight", o => o.BalanceLossWeight = double.PositiveInfinity },
        { "GradientClipNorm", o => o.GradientClipNorm = double.PositiveInfinity },
        { "MaxLength", o => o.MaxLength = int.MaxValue },
        { "Dropout", o => o.Dropout = double.NaN },
    };

    [Theory]
    [MemberData(nameof(ClassifierCases))]
    public void ClassifierOptionsRefuseUnboundedValues(string option, Action<MoeTextClassificationOptions> set)
    {
        var options = new MoeTextClassificationOptions();
        options.Validate();
        set(options);
        var error = Assert.ThrowsAny<ArgumentException>(options.Validate);
        Assert.Contains(option, error.Message);
    }
}
