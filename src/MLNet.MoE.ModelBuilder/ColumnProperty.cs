namespace MLNet.MoE;

/// <summary>One entry of a <c>.mbconfig</c>'s <c>DataSource.ColumnProperties</c>: a column of the data that the model reads.</summary>
public sealed record ColumnProperty
{
    /// <summary>Its name in the header (or in the model, without a header): the <c>[ColumnName]</c> of a <c>ModelInput</c> property.</summary>
    public required string ColumnName { get; init; }

    /// <summary>Text or Label.</summary>
    public required string ColumnPurpose { get; init; }

    /// <summary>String.</summary>
    public required string ColumnDataFormat { get; init; }

    /// <summary>Its zero-based position, for data without a header (the <c>[LoadColumn]</c> of a <c>ModelInput</c> property).</summary>
    public int? Index { get; init; }
}
