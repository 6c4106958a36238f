namespace MLNet.MoE;

/// <summary>
/// A language-modeling <c>.mbconfig</c> (<c>"Scenario": "LanguageModeling"</c>, trainer <c>LanguageModel</c>): one text
/// column, the language model's and its generation's options, and a reduced run of fewer rows and steps.
/// </summary>
public sealed record LanguageModelingConfiguration : ModelBuilderConfiguration<LanguageModelTrainingOption, LanguageModelQuickTrainingOption>
{
    /// <summary>The scenario's name in the file.</summary>
    public const string ScenarioName = "LanguageModeling";

    /// <summary>The trainer's name in the file.</summary>
    public const string TrainerName = "LanguageModel";

    /// <summary>
    /// Reads and checks a language-modeling <c>.mbconfig</c>: every setting known and present, the scenario and trainer
    /// the code's, exactly the model's text column, the settings' values in range.
    /// </summary>
    /// <param name="mbconfigPath">The file.</param>
    /// <param name="textColumnName">The text column's name in the model (<c>ModelInput</c>'s <c>[ColumnName]</c>).</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">It is not valid JSON, lacks a setting, has an unknown one, or does not describe this scenario and this column; the message names the file and the setting.</exception>
    public static LanguageModelingConfiguration Load(string mbconfigPath, string textColumnName)
    {
        var configuration = MbConfigFile.Read<LanguageModelingConfiguration>(mbconfigPath);
        configuration.CheckCommonSettings(mbconfigPath, ScenarioName, TrainerName);
        var columns = configuration.DataSource.ColumnProperties;
        MbConfigFile.Require(mbconfigPath, columns.Length == 1 && columns[0].ColumnPurpose == "Text" && columns[0].ColumnName == textColumnName,
            $"ColumnProperties must name the text column '{textColumnName}' (ColumnPurpose Text) and no other, as ModelInput does.");
        var quick = configuration.QuickTrainingOption;
        MbConfigFile.Require(mbconfigPath, quick.MaxRows >= 0 && quick.MaxSteps >= 1, "QuickTrainingOption needs MaxRows ≥ 0 and MaxSteps ≥ 1.");
        return configuration;
    }

    /// <summary>This configuration with the reduced run's steps, at most a tenth of them warming up (the rows are cut by <see cref="ModelBuilderQuickTrainingOption.TakeRows"/>).</summary>
    public LanguageModelingConfiguration ForQuickRun() => this with
    {
        TrainingOption = TrainingOption with { MaxSteps = QuickTrainingOption.MaxSteps, WarmupSteps = Math.Min(TrainingOption.WarmupSteps, QuickTrainingOption.MaxSteps / 10) },
    };
}
