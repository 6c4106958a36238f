using System.Text.Json.Serialization;

namespace MLNet.MoE;

/// <summary>The <c>DataSource</c> of a <c>.mbconfig</c>: a delimited text file, with or without a header line, and the columns the model reads.</summary>
public sealed record DataSourceConfiguration
{
    /// <summary>TabularFile.</summary>
    public required string Type { get; init; }

    /// <summary>The data file; a relative path is looked for in the current directory, then beside the program (<see cref="TabularDataFile.ResolvePath"/>).</summary>
    public required string FilePath { get; init; }

    /// <summary>The column separator, one character.</summary>
    public required string Delimiter { get; init; }

    /// <summary>Whether the first line names the columns (then they are found by name).</summary>
    public required bool HasHeader { get; init; }

    /// <summary>Whether fields may be quoted.</summary>
    public required bool AllowQuoting { get; init; }

    /// <summary>The columns the model reads.</summary>
    public required ColumnProperty[] ColumnProperties { get; init; }

    /// <summary>The delimiter as a character.</summary>
    /// <exception cref="InvalidDataException"><see cref="Delimiter"/> is empty.</exception>
    [JsonIgnore]
    public char Separator => Delimiter.Length > 0 ? Delimiter[0] : throw new InvalidDataException("DataSource.Delimiter is empty: it must be one character.");
}
