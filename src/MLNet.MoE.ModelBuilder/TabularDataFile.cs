using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// The data file of a <c>.mbconfig</c>'s <c>DataSource</c>: where a relative path is looked for, and reading it as an
/// <see cref="IDataView"/> of its configured columns, found by name in the header line or by <see cref="ColumnProperty.Index"/>.
/// </summary>
public static class TabularDataFile
{
    /// <summary>
    /// The full path of a data file: a rooted path as it is; a relative one in the current directory, then beside the
    /// program (<see cref="AppContext.BaseDirectory"/>, where a project copies its data).
    /// </summary>
    /// <param name="path">The path as given on the command line or in the <c>.mbconfig</c>.</param>
    /// <exception cref="FileNotFoundException">The file is in neither place; the message names the path and both folders.</exception>
    public static string ResolvePath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Path.IsPathRooted(path) || File.Exists(path)) return Path.GetFullPath(path);
        string besideProgram = Path.Combine(AppContext.BaseDirectory, path);
        if (File.Exists(besideProgram)) return besideProgram;
        throw new FileNotFoundException($"Data file '{path}' does not exist (looked in the current directory {Environment.CurrentDirectory} and beside the program in {AppContext.BaseDirectory}).", path);
    }

    /// <summary>
    /// Loads the file with the data source's delimiter and quoting, as string columns named as its
    /// <see cref="DataSourceConfiguration.ColumnProperties"/>: found by name in the header line when it has one, otherwise
    /// at their <see cref="ColumnProperty.Index"/>.
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <param name="path">The data file.</param>
    /// <param name="dataSource">The delimiter, header, quoting and columns.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file has no header line though the data source says it has one, a column is not in the header (the message names it, the file, and the header's columns), or a column has no index and there is no header.</exception>
    public static IDataView Load(MLContext mlContext, string path, DataSourceConfiguration dataSource)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(dataSource);
        if (!File.Exists(path)) throw new FileNotFoundException($"Data file '{path}' does not exist.", path);
        char separator = dataSource.Separator;
        string[]? header = null;
        if (dataSource.HasHeader)
        {
            string firstLine = File.ReadLines(path).FirstOrDefault()
                ?? throw new InvalidDataException($"Data file '{path}' is empty: it has no header line.");
            header = firstLine.Split(separator).Select(name => dataSource.AllowQuoting ? name.Trim().Trim('"') : name.Trim()).ToArray();
        }
        var columns = dataSource.ColumnProperties.Select(column =>
        {
            int index;
            if (header != null)
            {
                index = Array.IndexOf(header, column.ColumnName);
                if (index < 0)
                    throw new InvalidDataException($"Column '{column.ColumnName}' is not in the header of '{path}' (its columns: {string.Join(", ", header.Select(h => "'" + h + "'"))}).");
            }
            else
            {
                index = column.Index ?? throw new InvalidDataException($"Column '{column.ColumnName}' has no Index in the data source, and the data file '{path}' has no header to find it by name.");
            }
            return new TextLoader.Column(column.ColumnName, DataKind.String, index);
        }).ToArray();
        return mlContext.Data.CreateTextLoader(new TextLoader.Options
        {
            Columns = columns,
            Separators = new[] { separator },
            HasHeader = dataSource.HasHeader,
            AllowQuoting = dataSource.AllowQuoting,
        }).Load(path);
    }
}
