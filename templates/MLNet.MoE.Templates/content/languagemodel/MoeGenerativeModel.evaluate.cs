using System.Globalization;
using System.Text;
using Microsoft.ML;
using MLNet.MoE;

namespace MoeModelNamespace;

public static partial class MoeGenerativeModel
{
    /// <summary>
    /// The language-model metrics on rows the model was not trained on: perplexity, cross-entropy, bits per UTF-8 byte
    /// (comparable across tokenizers) and next-token accuracy.
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <param name="model">A model from <see cref="RetrainModel"/> or loaded from a <c>.mlnet</c> file.</param>
    /// <param name="testData">Held-out rows.</param>
    public static LanguageModelMetrics Evaluate(MLContext mlContext, ITransformer model, IDataView testData)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(model);
        return mlContext.MoE().Evaluate(model.Transform(testData), textColumnName: TextColumnName);
    }

    /// <summary>The metrics, one a line.</summary>
    public static string FormatMetrics(LanguageModelMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var text = new StringBuilder();
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "Perplexity:        {0:F3}", metrics.Perplexity));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "CrossEntropy:      {0:F4} nats/token", metrics.CrossEntropy));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "BitsPerByte:       {0:F4}", metrics.BitsPerByte));
        text.AppendLine(string.Format(CultureInfo.InvariantCulture, "NextTokenAccuracy: {0:F4}", metrics.NextTokenAccuracy));
        text.Append(string.Format(CultureInfo.InvariantCulture, "Scored:            {0} rows, {1} tokens", metrics.RowCount, metrics.TokenCount));
        return text.ToString();
    }
}
