namespace MLNet.MoE;

/// <summary>
/// A text-classification <c>.mbconfig</c> (<c>"Scenario": "TextClassification"</c>, trainer <c>MoeTextClassification</c>):
/// a text column and a label column, the classifier's options, and a reduced run of fewer rows and epochs.
/// </summary>
public sealed record TextClassificationConfiguration : ModelBuilderConfiguration<TextClassificationTrainingOption, TextClassificationQuickTrainingOption>
{
    /// <summary>The scenario's name in the file.</summary>
    public const string ScenarioName = "TextClassification";

    /// <summary>The trainer's name in the file.</summary>
    public const string TrainerName = "MoeTextClassification";

    /// <summary>
    /// Reads and checks a text-classification <c>.mbconfig</c>: every setting known and present, the scenario and trainer
    /// the code's, exactly the model's text and label columns, the settings' values in range.
    /// </summary>
    /// <param name="mbconfigPath">The file.</param>
    /// <param name="textColumnName">The text column's name in the model (<c>ModelInput</c>'s <c>[ColumnName]</c>).</param>
    /// <param name="labelColumnName">The label column's name in the model.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">It is not valid JSON, lacks a setting, has an unknown one, or does not describe this scenario and these columns; the message names the file and the setting.</exception>
    public static TextClassificationConfiguration Load(string mbconfigPath, string textColumnName, string labelColumnName)
    {
        var configuration = MbConfigFile.Read<TextClassificationConfiguration>(mbconfigPath);
        configuration.CheckCommonSettings(mbconfigPath, ScenarioName, TrainerName);
        var columns = configuration.DataSource.ColumnProperties;
        MbConfigFile.Require(mbconfigPath, columns.Length == 2 && columns.Count(c => c.ColumnPurpose == "Text" && c.ColumnName == textColumnName) == 1 && columns.Count(c => c.ColumnPurpose == "Label" && c.ColumnName == labelColumnName) == 1,
            $"ColumnProperties must name the text column '{textColumnName}' (ColumnPurpose Text) and the label column '{labelColumnName}' (ColumnPurpose Label), as ModelInput does.");
        var quick = configuration.QuickTrainingOption;
        MbConfigFile.Require(mbconfigPath, quick.MaxRows >= 0 && quick.Epochs >= 1, "QuickTrainingOption needs MaxRows ≥ 0 and Epochs ≥ 1.");
        return configuration;
    }

    /// <summary>This configuration with the reduced run's epochs (the rows are cut by <see cref="ModelBuilderQuickTrainingOption.TakeRows"/>).</summary>
    public TextClassificationConfiguration ForQuickRun() => this with { TrainingOption = TrainingOption with { Epochs = QuickTrainingOption.Epochs } };
}
