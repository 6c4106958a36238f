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
    /// <returns>The number of rows and of classes.</returns>
    public static (long Rows, int Classes) RequireTwoClassesOrMore(IDataView data, string labelColumnName, string dataPath)
    {
        var labels = new HashSet<string>(StringComparer.Ordinal);
        long rows = ForEachText(data, labelColumnName, dataPath, value =>
        {
            if (!value.IsEmpty) labels.Add(value.ToString());
        });
        if (rows == 0) throw new InvalidDataException($"Data file '{dataPath}' has no rows.");
        if (labels.Count < 2)
            throw new InvalidDataException($"Label column '{labelColumnName}' of '{dataPath}' holds {(labels.Count == 0 ? "no class" : $"one class ('{labels.Single()}')")} in {rows} rows: a classifier needs rows of at least two classes.");
        return (rows, labels.Count);
    }

    /// <summary>
    /// The rows a classifier trains on must be enough for the settings: after the held-out test share and the validation
    /// share, at least two training rows per class, and at least one test row.
    /// </summary>
    /// <param name="rows">Rows of the data (after any cut to the reduced run's rows).</param>
    /// <param name="classes">Classes of its label column.</param>
    /// <param name="testFraction">Share held out for the test metrics.</param>
    /// <param name="validationFraction">Share of the rest held out for early stopping.</param>
    /// <param name="dataPath">The data file, named in the message.</param>
    /// <exception cref="InvalidDataException">Too few rows; the message says how many there are, how many the settings need, and what to change.</exception>
    public static void RequireEnoughRows(long rows, int classes, double testFraction, double validationFraction, string dataPath)
    {
        double training = rows * (1 - testFraction) * (1 - validationFraction);
        long test = (long)Math.Floor(rows * testFraction);
        long needed = (long)Math.Ceiling(2 * classes / ((1 - testFraction) * (1 - validationFraction)));
        if (training < 2 * classes || test < 1)
            throw new InvalidDataException(
                $"Data file '{dataPath}' has {rows} rows of {classes} classes: too few for TestFraction {testFraction:0.###} and ValidationFraction {validationFraction:0.###}, " +
                $"which leave {test} test rows and about {training:0} training rows (at least two per class and one test row are needed, so about {Math.Max(needed, 2 * classes + 1)} rows). " +
                "Add rows, or lower TestFraction or ValidationFraction in the .mbconfig (with --quick, raise QuickTrainingOption.MaxRows).");
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
