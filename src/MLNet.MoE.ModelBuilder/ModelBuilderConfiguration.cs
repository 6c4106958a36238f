using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// The content of a <c>.mbconfig</c> file, the training configuration of a Model Builder-shaped model: scenario, data
/// source, environment, training options and the reduced run. <see cref="TextClassificationConfiguration"/> and
/// <see cref="LanguageModelingConfiguration"/> are its two scenarios.
/// </summary>
/// <typeparam name="TTrainingOption">The scenario's trainer options.</typeparam>
/// <typeparam name="TQuickTrainingOption">The scenario's reduced run.</typeparam>
public abstract record ModelBuilderConfiguration<TTrainingOption, TQuickTrainingOption>
    where TTrainingOption : ModelBuilderTrainingOption
    where TQuickTrainingOption : ModelBuilderQuickTrainingOption
{
    /// <summary>The file format's version (1).</summary>
    public required int Version { get; init; }

    /// <summary>TrainingConfig.</summary>
    public required string Type { get; init; }

    /// <summary>The task: TextClassification or LanguageModeling.</summary>
    public required string Scenario { get; init; }

    /// <summary>The data file and its columns.</summary>
    public required DataSourceConfiguration DataSource { get; init; }

    /// <summary>Where to train: LocalCPU or LocalGPU.</summary>
    public required EnvironmentConfiguration Environment { get; init; }

    /// <summary>The trainer and its options.</summary>
    public required TTrainingOption TrainingOption { get; init; }

    /// <summary>The reduced run that CI trains.</summary>
    public required TQuickTrainingOption QuickTrainingOption { get; init; }

    /// <summary>A context seeded with <see cref="ModelBuilderTrainingOption.Seed"/>, on the first GPU when the environment is LocalGPU (no fallback to the CPU).</summary>
    public MLContext CreateMLContext() =>
        new(seed: TrainingOption.Seed) { GpuDeviceId = Environment.Device == ComputeDevice.Cuda ? 0 : null, FallbackToCpu = false };

    /// <summary>
    /// The checks every scenario shares: the scenario and trainer names, a one-character delimiter, string columns (each
    /// with an <see cref="ColumnProperty.Index"/> when the data has no header), the environment, the tokenizer and the
    /// held-out fraction. The scenario checks its columns and its reduced run itself.
    /// </summary>
    /// <param name="mbconfigPath">The file, named in the message.</param>
    /// <param name="scenario">The scenario the code trains.</param>
    /// <param name="trainer">The trainer the code uses.</param>
    /// <exception cref="InvalidDataException">A setting is not what the code trains.</exception>
    protected void CheckCommonSettings(string mbconfigPath, string scenario, string trainer)
    {
        MbConfigFile.Require(mbconfigPath, Scenario == scenario, $"Scenario must be {scenario}, not '{Scenario}'.");
        MbConfigFile.Require(mbconfigPath, TrainingOption.Trainer == trainer, $"TrainingOption.Trainer must be {trainer}, not '{TrainingOption.Trainer}'.");
        MbConfigFile.Require(mbconfigPath, DataSource.Delimiter.Length == 1, $"DataSource.Delimiter must be one character, not '{DataSource.Delimiter}'.");
        MbConfigFile.Require(mbconfigPath, DataSource.ColumnProperties.All(c => c.ColumnDataFormat == "String"), "every column's ColumnDataFormat must be String.");
        if (!DataSource.HasHeader && DataSource.ColumnProperties.FirstOrDefault(c => c.Index is null) is { } unplaced)
            MbConfigFile.Require(mbconfigPath, false, $"column '{unplaced.ColumnName}' of DataSource.ColumnProperties needs an Index: HasHeader is false, so it cannot be found by name.");
        MbConfigFile.Require(mbconfigPath, Environment.Type is EnvironmentConfiguration.LocalCpu or EnvironmentConfiguration.LocalGpu, $"Environment.Type must be LocalCPU or LocalGPU, not '{Environment.Type}'.");
        MbConfigFile.Require(mbconfigPath, ModelBuilderTrainingOption.Tokenizers.Contains(TrainingOption.Tokenizer), $"TrainingOption.Tokenizer must be {string.Join(" or ", ModelBuilderTrainingOption.Tokenizers)}, not '{TrainingOption.Tokenizer}'.");
        MbConfigFile.Require(mbconfigPath, TrainingOption.TestFraction is > 0 and < 1, $"TrainingOption.TestFraction must be between 0 and 1 (exclusive), not {TrainingOption.TestFraction}.");
    }
}
