using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// Aggregates a language model's scored columns (Score, TokenCount, TokenAccuracy) into <see cref="LanguageModelMetrics"/>,
/// the same for both backends: <c>mlContext.MoE().Evaluate</c> and <c>mlContext.MoeOnnx().Evaluate</c> call it.
/// </summary>
internal static class LanguageModelEvaluation
{
    /// <summary>
    /// Token-weighted means over all rows with tokens; with <paramref name="textColumnName"/>, bits per UTF-8 byte of that
    /// text. Throws naming the column when a column is missing or of another type.
    /// </summary>
    public static LanguageModelMetrics Evaluate(IDataView scoredData, string? textColumnName, string scoreColumnName, string tokenCountColumnName, string tokenAccuracyColumnName)
    {
        ArgumentNullException.ThrowIfNull(scoredData);
        var schema = scoredData.Schema;
        DataViewSchema.Column RequireSingle(string name)
        {
            var column = schema.GetColumnOrNull(name) ?? throw new ArgumentOutOfRangeException(nameof(scoredData), $"Score column '{name}' was not found: score the data with the language model first.");
            if (column.Type != NumberDataViewType.Single) throw new ArgumentOutOfRangeException(nameof(scoredData), $"Column '{name}' must be Single, but is {column.Type}.");
            return column;
        }
        var score = RequireSingle(scoreColumnName);
        var count = RequireSingle(tokenCountColumnName);
        var accuracy = RequireSingle(tokenAccuracyColumnName);
        DataViewSchema.Column? text = textColumnName == null ? null : SchemaChecks.RequireText(schema, textColumnName, "Text");
        var needed = new List<DataViewSchema.Column> { score, count, accuracy };
        if (text is { } t) needed.Add(t);
        using var cursor = scoredData.GetRowCursor(needed);
        var scoreGetter = cursor.GetGetter<float>(score);
        var countGetter = cursor.GetGetter<float>(count);
        var accuracyGetter = cursor.GetGetter<float>(accuracy);
        var textGetter = text is { } tc ? cursor.GetGetter<ReadOnlyMemory<char>>(tc) : null;
        double nats = 0, correct = 0;
        long tokens = 0, rows = 0, bytes = 0;
        float s = 0, n = 0, a = 0;
        ReadOnlyMemory<char> value = default;
        while (cursor.MoveNext())
        {
            countGetter(ref n);
            if (n <= 0) continue;
            scoreGetter(ref s);
            accuracyGetter(ref a);
            nats += (double)s * n;
            correct += (double)a * n;
            tokens += (long)n;
            rows++;
            if (textGetter != null)
            {
                textGetter(ref value);
                bytes += System.Text.Encoding.UTF8.GetByteCount(value.Span);
            }
        }
        double crossEntropy = tokens > 0 ? nats / tokens : double.NaN;
        return new LanguageModelMetrics
        {
            CrossEntropy = crossEntropy,
            Perplexity = Math.Exp(crossEntropy),
            BitsPerByte = textGetter != null && bytes > 0 ? nats / Math.Log(2) / bytes : double.NaN,
            NextTokenAccuracy = tokens > 0 ? correct / tokens : double.NaN,
            TokenCount = tokens,
            RowCount = rows,
        };
    }
}
