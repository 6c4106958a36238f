using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>The <c>QuickTrainingOption</c> of a text-classification <c>.mbconfig</c>: fewer rows and fewer epochs.</summary>
public sealed record TextClassificationQuickTrainingOption : ModelBuilderQuickTrainingOption
{
    /// <summary>The reduced run's passes over the training rows.</summary>
    public required int Epochs { get; init; }

    /// <summary>
    /// At most <see cref="ModelBuilderQuickTrainingOption.MaxRows"/> rows of <paramref name="data"/> drawn from the whole
    /// data, stratified by label: each class keeps its share of the rows (at least two rows, or all it has when fewer),
    /// drawn at random with <paramref name="seed"/>, in the data's order. A file sorted by label gives every class, where
    /// its first rows would give one. All rows when <see cref="ModelBuilderQuickTrainingOption.MaxRows"/> is 0 or not below
    /// the row count. The result holds the text and label columns only.
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <param name="data">The data, with text columns <paramref name="textColumnName"/> and <paramref name="labelColumnName"/>.</param>
    /// <param name="textColumnName">The text column.</param>
    /// <param name="labelColumnName">The label column; rows whose label is empty count as a class of their own.</param>
    /// <param name="seed">Seed of the draw.</param>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or is not text.</exception>
    public IDataView SampleRows(MLContext mlContext, IDataView data, string textColumnName, string labelColumnName, int seed)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(data);
        var text = RequireText(data.Schema, textColumnName);
        var label = RequireText(data.Schema, labelColumnName);
        var rows = new List<StratifiedRow>();
        using (var cursor = data.GetRowCursor(new[] { text, label }))
        {
            var textGetter = cursor.GetGetter<ReadOnlyMemory<char>>(text);
            var labelGetter = cursor.GetGetter<ReadOnlyMemory<char>>(label);
            ReadOnlyMemory<char> textValue = default, labelValue = default;
            while (cursor.MoveNext())
            {
                textGetter(ref textValue);
                labelGetter(ref labelValue);
                rows.Add(new StratifiedRow { Text = textValue.ToString(), Label = labelValue.ToString() });
            }
        }
        IEnumerable<StratifiedRow> kept = rows;
        if (MaxRows > 0 && MaxRows < rows.Count)
        {
            var random = new Random(seed);
            var chosen = new List<int>();
            foreach (var group in Enumerable.Range(0, rows.Count).GroupBy(i => rows[i].Label, StringComparer.Ordinal))
            {
                var members = group.ToArray();
                int quota = Math.Min(members.Length, Math.Max(2, (int)Math.Round((double)MaxRows * members.Length / rows.Count)));
                random.Shuffle(members);
                chosen.AddRange(members.Take(quota));
            }
            chosen.Sort();
            kept = chosen.Select(i => rows[i]);
        }
        var schema = SchemaDefinition.Create(typeof(StratifiedRow));
        schema[nameof(StratifiedRow.Text)].ColumnName = textColumnName;
        schema[nameof(StratifiedRow.Label)].ColumnName = labelColumnName;
        return mlContext.Data.LoadFromEnumerable(kept.ToList(), schema);
    }

    private static DataViewSchema.Column RequireText(DataViewSchema schema, string name)
    {
        var column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException(nameof(name), $"The data has no column '{name}' (its columns: {string.Join(", ", schema.Select(c => "'" + c.Name + "'"))}).");
        if (column.Type is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(name), $"Column '{name}' must be text, but is {column.Type}.");
        return column;
    }

    /// <summary>A row of the sample: its text and its label, renamed to the data's columns.</summary>
    private sealed class StratifiedRow
    {
        public string Text { get; set; } = "";

        public string Label { get; set; } = "";
    }
}
