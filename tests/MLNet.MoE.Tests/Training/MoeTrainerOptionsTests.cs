namespace MLNet.MoE.Tests.Training;

/// <summary>
/// The options both trainers take, declared once on <see cref="MoeTrainerOptions"/>: each trainer's defaults, and errors
/// that name the option through the trainer's own options type.
/// </summary>
public class MoeTrainerOptionsTests
{
    [Fact]
    public void TheLanguageModelDefaultsAreItsOwn()
    {
        var options = new LanguageModelOptions();
        Assert.Equal(16, options.BatchSize);
        Assert.Equal(300, options.MaxSteps);
        Assert.Equal(3e-3, options.LearningRate);
        Assert.Equal(30, options.WarmupSteps);
        Assert.Equal(0.1, options.WeightDecay);
        Assert.Equal(0.95, options.Beta2);
        Assert.Equal(0.05, options.ValidationFraction);
        Assert.Equal(TrainingPrecision.Auto, options.Precision);
        AssertCommonDefaults(options);
    }

    [Fact]
    public void TheClassifierDefaultsAreItsOwn()
    {
        var options = new MoeTextClassificationOptions();
        Assert.Equal(32, options.BatchSize);
        Assert.Equal(0, options.MaxSteps);
        Assert.Equal(1e-3, options.LearningRate);
        Assert.Equal(20, options.WarmupSteps);
        Assert.Equal(0.01, options.WeightDecay);
        Assert.Equal(0.999, options.Beta2);
        Assert.Equal(0.1, options.ValidationFraction);
        Assert.Equal(TrainingPrecision.Float32, options.Precision);
        AssertCommonDefaults(options);
    }

    [Fact]
    public void ErrorsOfSharedOptionsNameTheTrainersOptionsType()
    {
        var languageModel = new LanguageModelOptions { GradientAccumulationSteps = 3 };
        var error = Assert.Throws<ArgumentOutOfRangeException>(languageModel.Validate);
        Assert.StartsWith("LanguageModelOptions.GradientAccumulationSteps must be at least 1 and divide BatchSize, got 3.", error.Message);
        Assert.Equal("GradientAccumulationSteps", error.ParamName);

        var classifier = new MoeTextClassificationOptions { BatchSize = 0 };
        error = Assert.Throws<ArgumentOutOfRangeException>(classifier.Validate);
        Assert.StartsWith("MoeTextClassificationOptions.BatchSize must be between 1 and 65,536, got 0.", error.Message);
        Assert.Equal("BatchSize", error.ParamName);
    }

    [Fact]
    public void NoTypeOutsideTheLibraryCanDeriveFromTheBase()
    {
        var constructors = typeof(MoeTrainerOptions).GetConstructors(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic);
        Assert.All(constructors, c => Assert.False(c.IsPublic || c.IsFamily || c.IsFamilyOrAssembly));
    }

    private static void AssertCommonDefaults(MoeTrainerOptions options)
    {
        Assert.Null(options.Model);
        Assert.Null(options.Tokenizer);
        Assert.Equal(1, options.GradientAccumulationSteps);
        Assert.Equal(0.1, options.MinLearningRateRatio);
        Assert.Equal(0.9, options.Beta1);
        Assert.Equal(1.0, options.GradientClipNorm);
        Assert.Null(options.Seed);
        Assert.Equal(ComputeDevice.Auto, options.Device);
        Assert.Null(options.DeviceId);
        Assert.Equal(KernelMode.Auto, options.Kernels);
        Assert.Equal(ExpertDispatch.Auto, options.ExpertDispatch);
        Assert.Equal(2.0, options.CapacityFactor);
        Assert.Equal(0.001, options.BiasUpdateRate);
        Assert.Equal(0.0001, options.BalanceLossWeight);
        Assert.False(options.RecomputeActivations);
        Assert.Equal(100, options.CheckpointEverySteps);
        Assert.Equal(3, options.KeepCheckpoints);
        Assert.Null(options.ResumeFrom);
        Assert.Equal(5, options.MaxConsecutiveSkippedSteps);
        Assert.Equal(10, options.LogEverySteps);
    }
}
