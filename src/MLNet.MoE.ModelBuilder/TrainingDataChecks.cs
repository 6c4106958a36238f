using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// Checks of the training data that a Model Builder-shaped <c>Train</c> makes before it trains (so that bad data fails
/// before anything is written), each naming the column and the data file.
/// </summary>
public static class TrainingDataChecks
{
    /// <summary>A classifier needs rows of at least two classes in its label column.</summary>
    /// <param name="data">The data (after any cut to the reduced run's rows).</param>
    /// <param name="labelColumnName">The label column, a text column.</param>
    /// <param name="dataPath">The data file, named in the message.</param>
    /// <exception cref="InvalidDataException">The data has no such column, no rows, or its label column holds fewer than two classes (empty values do not count).</exception>
    public static void RequireTwoClassesOrMore(IDataView data, string labelColumnName, string dataPath)
    {
        var labels = new HashSet<string>(StringComparer.Ordinal);
        long rows = ForEachText(data, labelColumnName, dataPath, value =>
        {
            if (!value.IsEmpty) labels.Add(value.ToString());
        });
        if (rows == 0) throw new InvalidDataException($"Data file '{dataPath}' has no rows.");
        if (labels.Count < 2)
            throw new InvalidDataException($"Label column '{labelColumnName}' of '{dataPath}' holds {(labels.Count == 0 ? "no class" : $"one class ('{labels.Single()}')")} in {rows} rows: a classifier needs rows of at least two classes.");
    }

    /// <summary>A language model needs some text: a value in its text column that is not all white space.</summary>
    /// <param name="data">The data (after any cut to the reduced run's rows).</param>
    /// <param name="textColumnName">The text column.</param>
    /// <param name="dataPath">The data file, named in the message.</param>
    /// <exception cref="InvalidDataException">The data has no such column, or every value of the text column is empty or white space (or there are no rows).</exception>
    public static void RequireText(IDataView data, string textColumnName, string dataPath)
    {
        long nonEmpty = 0;
        long rows = ForEachText(data, textColumnName, dataPath, value =>
        {
            if (!value.Span.IsWhiteSpace()) nonEmpty++;
        });
        if (nonEmpty == 0) throw new InvalidDataException($"Text column '{textColumnName}' of '{dataPath}' holds no text in its {rows} rows: a language model needs some.");
    }

    /// <summary>Reads every value of a text column; returns the number of rows.</summary>
    private static long ForEachText(IDataView data, string columnName, string dataPath, Action<ReadOnlyMemory<char>> read)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(columnName);
        var column = data.Schema.GetColumnOrNull(columnName)
            ?? throw new InvalidDataException($"The data of '{dataPath}' has no column '{columnName}' (its columns: {string.Join(", ", data.Schema.Select(c => "'" + c.Name + "'"))}).");
        long rows = 0;
        using var cursor = data.GetRowCursor(new[] { column });
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
        ReadOnlyMemory<char> value = default;
        while (cursor.MoveNext())
        {
            getter(ref value);
            rows++;
            read(value);
        }
        return rows;
    }
}
