namespace MLNet.MoE;

/// <summary>Progress of <see cref="MoeCatalog.ExportTokens"/>: what is committed to disk so far.</summary>
public sealed record TokenExportProgress
{
    /// <summary>Input rows committed (empty ones included), those of a resumed run's earlier runs too.</summary>
    public long Rows { get; init; }

    /// <summary>Documents (non-empty rows) committed.</summary>
    public long Documents { get; init; }

    /// <summary>Token ids committed, end-of-text ids included.</summary>
    public long Tokens { get; init; }

    /// <summary>Chunks committed.</summary>
    public int Chunks { get; init; }

    /// <summary>UTF-8 megabytes (10^6 bytes) of text tokenized in this run (0 when a token column is read).</summary>
    public double Megabytes { get; init; }

    /// <summary>Megabytes of text tokenized a second in this run.</summary>
    public double MegabytesPerSecond { get; init; }

    /// <summary>Input rows committed a second in this run.</summary>
    public double RowsPerSecond { get; init; }

    /// <summary>Time spent in this run.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>Estimated time left, from the row rate, when the number of rows is known (the data view's count or <see cref="TokenExportOptions.EstimatedRows"/>); else null.</summary>
    public TimeSpan? EstimatedRemaining { get; init; }

    /// <summary>Whether this is the last report: the store is complete.</summary>
    public bool Completed { get; init; }
}
