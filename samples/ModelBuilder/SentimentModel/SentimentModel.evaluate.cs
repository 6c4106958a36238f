using System.Globalization;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE.Samples.ModelBuilder;

public static partial class SentimentModel
{
    /// <summary>
    /// The multiclass metrics Model Builder reports for text classification (micro and macro accuracy, log-loss and its
    /// reduction, the confusion matrix) on rows the model was not trained on.
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <param name="model">A model from <see cref="RetrainModel"/> or loaded from a <c>.mlnet</c> file.</param>
    /// <param name="testData">Held-out rows with their labels.</param>
    public static MulticlassClassificationMetrics Evaluate(MLContext mlContext, ITransformer model, IDataView testData)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(model);
        // The evaluator reads the predicted key, so the last stage (the key back to the label's value) is left out.
        var stages = model is IEnumerable<ITransformer> chain ? chain.ToArray() : new[] { model };
        var classifier = new TransformerChain<ITransformer>(stages.Take(stages.Length - 1).ToArray());
        return mlContext.MulticlassClassification.Evaluate(classifier.Transform(testData), labelColumnName: LabelColumnName);
    }

    /// <summary>The model's held-out metrics beside the baseline's (same rows), one a line, and the model's confusion matrix.</summary>
    public static string FormatMetrics(TrainingResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var (ours, baseline) = (result.Metrics, result.BaselineMetrics);
        var text = new StringBuilder();
        text.AppendLine("                  MoE classifier   baseline (FeaturizeText + LbfgsMaximumEntropy)");
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "MicroAccuracy:    {0,-16:F4} {1:F4}", ours.MicroAccuracy, baseline.MicroAccuracy));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "MacroAccuracy:    {0,-16:F4} {1:F4}", ours.MacroAccuracy, baseline.MacroAccuracy));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "LogLoss:          {0,-16:F4} {1:F4}", ours.LogLoss, baseline.LogLoss));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "LogLossReduction: {0,-16:F4} {1:F4}", ours.LogLossReduction, baseline.LogLossReduction));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "Training time:    {0,-16} {1}", $"{result.TrainingTime.TotalSeconds:F0} s", $"{result.BaselineTrainingTime.TotalSeconds:F0} s"));
        text.Append(ours.ConfusionMatrix.GetFormattedConfusionTable());
        return text.ToString();
    }

    /// <summary>The metrics as Model Builder's evaluation page lists them, one a line, and the confusion matrix.</summary>
    public static string FormatMetrics(MulticlassClassificationMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var text = new StringBuilder();
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "MicroAccuracy:    {0:F4}", metrics.MicroAccuracy));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "MacroAccuracy:    {0:F4}", metrics.MacroAccuracy));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "LogLoss:          {0:F4}", metrics.LogLoss));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "LogLossReduction: {0:F4}", metrics.LogLossReduction));
        text.Append(metrics.ConfusionMatrix.GetFormattedConfusionTable());
        return text.ToString();
    }
}
