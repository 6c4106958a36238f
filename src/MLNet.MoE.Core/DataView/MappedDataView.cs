using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>The lazily evaluated output of a transformer: the input data view plus the columns of a <see cref="ColumnMapper"/>.</summary>
internal sealed class MappedDataView : IDataView
{
    private readonly IDataView input;
    private readonly ColumnMapper mapper;

    public MappedDataView(IDataView input, ColumnMapper mapper)
    {
        this.input = input;
        this.mapper = mapper;
    }

    public bool CanShuffle => input.CanShuffle;

    public DataViewSchema Schema => mapper.OutputSchema;

    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var active = new bool[Schema.Count];
        foreach (var column in columnsNeeded) active[column.Index] = true;
        var inputCursor = input.GetRowCursor(MappedGetters.InputColumnsFor(mapper, active), rand);
        return new MappedCursor(mapper, inputCursor, active);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => new[] { GetRowCursor(columnsNeeded, rand) };
}
