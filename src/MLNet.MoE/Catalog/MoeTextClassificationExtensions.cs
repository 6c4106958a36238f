using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNet.MoE;

namespace Microsoft.ML;

/// <summary>Adds the Mixture-of-Experts text classifier to <c>mlContext.MulticlassClassification.Trainers</c>.</summary>
public static class MoeTextClassificationExtensions
{
    /// <summary>
    /// A Mixture-of-Experts text classifier over <paramref name="textColumnName"/> (and <paramref name="secondTextColumnName"/>)
    /// and the key-typed <paramref name="labelColumnName"/>; adds <c>PredictedLabel</c> and <c>Score</c>. The backbone is a
    /// new model with random weights, or the language model saved at <paramref name="languageModelPath"/>.
    /// </summary>
    public static IEstimator<MoeTextClassificationTransformer> MoeTextClassification(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", string? secondTextColumnName = null, string? languageModelPath = null,
        int maxLength = 128, int epochs = 10, int batchSize = 32)
        => catalog.MoeTextClassification(new MoeTextClassificationOptions
        {
            LabelColumnName = labelColumnName,
            TextColumnName = textColumnName,
            SecondTextColumnName = secondTextColumnName,
            LanguageModelPath = languageModelPath,
            MaxLength = maxLength,
            Epochs = epochs,
            BatchSize = batchSize,
        });

    /// <summary>A Mixture-of-Experts text classifier with the given options.</summary>
    public static IEstimator<MoeTextClassificationTransformer> MoeTextClassification(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, MoeTextClassificationOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        IHostEnvironment env = ((IInternalCatalog)catalog).Environment;
        return new MoeTextClassificationTrainer(env, options);
    }
}
