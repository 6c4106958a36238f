namespace MLNet.MoE;

/// <summary>The header (<c>tokens.json</c>) of a token file folder (a token store) written by <c>mlContext.MoE().ExportTokens</c>.</summary>
public sealed record TokenFileInfo
{
    /// <summary>Always <see cref="TokenFile.FormatName"/>.</summary>
    public required string Format { get; init; }

    /// <summary>The format version (<see cref="TokenFile.CurrentVersion"/>).</summary>
    public required int Version { get; init; }

    /// <summary>How each id is stored, little-endian: <c>uint16</c> when every id fits, else <c>uint32</c>
    /// (numpy's <c>&lt;u2</c> and <c>&lt;u4</c>).</summary>
    public required string DType { get; init; }

    /// <summary>The tokenizer's vocabulary size: every id is below it.</summary>
    public required int VocabSize { get; init; }

    /// <summary>The end-of-text id that precedes every document.</summary>
    public required int EndOfTextId { get; init; }

    /// <summary>The tokenizer's name.</summary>
    public required string Tokenizer { get; init; }

    /// <summary>The training stream.</summary>
    public required TokenFileSplit Train { get; init; }

    /// <summary>The validation stream (zero tokens when nothing was held out).</summary>
    public required TokenFileSplit Validation { get; init; }

    /// <summary>The fraction of documents held out for validation.</summary>
    public required double ValidationFraction { get; init; }

    /// <summary>The seed of the validation choice.</summary>
    public required int Seed { get; init; }

    /// <summary>The token column the documents were read from.</summary>
    public required string SourceColumn { get; init; }

    /// <summary>
    /// A 64-bit hash (16 hex digits) of the store's contents, from the checksums of its chunks: two stores with the same
    /// identity hold the same ids, documents and split. Training checkpoints record it. Null in a version-1 folder.
    /// </summary>
    public string? Identity { get; init; }

    /// <summary>Bytes per stored id.</summary>
    public int BytesPerToken => DType == "uint16" ? 2 : 4;
}
