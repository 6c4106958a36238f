using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// Computes new columns from the columns of one input row. The base of every MLNet.MoE transformer's data plane:
/// <see cref="MappedDataView"/> and <see cref="MappedRowToRowMapper"/> turn it into a lazily evaluated
/// <see cref="IDataView"/> and a row-to-row mapper (for <c>PredictionEngine</c>). ML.NET's own base classes for this
/// cannot be derived from outside ML.NET, hence this small layer.
/// </summary>
internal abstract class ColumnMapper
{
    protected ColumnMapper(DataViewSchema inputSchema)
    {
        InputSchema = inputSchema;
    }

    /// <summary>The schema the mapper reads.</summary>
    public DataViewSchema InputSchema { get; }

    /// <summary>The columns added after the input columns (a name equal to an input column's hides it).</summary>
    public abstract IReadOnlyList<DataViewSchema.DetachedColumn> AddedColumns { get; }

    /// <summary>Indices of the input columns needed to compute the added columns that are active.</summary>
    public abstract IEnumerable<int> GetInputDependencies(Func<int, bool> isAddedColumnActive);

    /// <summary>Getters (ValueGetter&lt;T&gt; of each added column's type) for the active added columns over <paramref name="input"/>; null for inactive ones.</summary>
    public abstract Delegate?[] CreateGetters(DataViewRow input, Func<int, bool> isAddedColumnActive);

    /// <summary>The output schema: the input columns followed by the added columns.</summary>
    public DataViewSchema OutputSchema => outputSchema ??= BuildOutputSchema();

    private DataViewSchema? outputSchema;

    private DataViewSchema BuildOutputSchema()
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(InputSchema);
        builder.AddColumns(AddedColumns);
        return builder.ToSchema();
    }
}
