using Microsoft.ML;
using Microsoft.ML.Data;

/// <summary>The input table: a TSV (or a CSV, by its extension) whose first line names the columns.</summary>
internal static class InputFile
{
    /// <summary>
    /// A lazy IDataView over the file with every column read as text, named from the header line. ML.NET's TextLoader
    /// reads the file as the cursor moves: nothing else is held in memory.
    /// </summary>
    public static IDataView Load(MLContext ml, string path, out IReadOnlyList<string> header)
    {
        bool csv = string.Equals(Path.GetExtension(path), ".csv", StringComparison.OrdinalIgnoreCase);
        char separator = csv ? ',' : '\t';
        string? first;
        using (var reader = new StreamReader(path)) first = reader.ReadLine();
        if (string.IsNullOrWhiteSpace(first)) throw new InvalidDataException($"Input '{path}' is empty: its first line must name the columns.");
        var names = first.Split(separator).Select(n => n.Trim().Trim('"')).ToList();
        var duplicate = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1 || g.Key.Length == 0);
        if (duplicate != null) throw new InvalidDataException($"Input '{path}' has an empty or repeated column name '{duplicate.Key}' in its header.");
        header = names;
        var loader = ml.Data.CreateTextLoader(new TextLoader.Options
        {
            Columns = names.Select((name, index) => new TextLoader.Column(name, DataKind.String, index)).ToArray(),
            HasHeader = true,
            Separators = [separator],
            AllowQuoting = csv,
            TrimWhitespace = false,
        });
        return loader.Load(path);
    }

    /// <summary>Data rows (lines after the header), counted by streaming through the bytes: for the progress bar only.</summary>
    public static long CountRows(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var buffer = new byte[1 << 16];
        long lines = 0;
        int read;
        byte last = (byte)'\n';
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
            last = buffer[read - 1];
        }
        if (last != (byte)'\n') lines++;
        return Math.Max(0, lines - 1);
    }
}
