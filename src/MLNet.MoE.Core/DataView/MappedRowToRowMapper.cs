using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>The row-to-row form of a <see cref="ColumnMapper"/>, used by <c>PredictionEngine</c>.</summary>
internal sealed class MappedRowToRowMapper : IRowToRowMapper
{
    private readonly ColumnMapper mapper;

    public MappedRowToRowMapper(ColumnMapper mapper)
    {
        this.mapper = mapper;
    }

    public DataViewSchema InputSchema => mapper.InputSchema;

    public DataViewSchema OutputSchema => mapper.OutputSchema;

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var active = new bool[OutputSchema.Count];
        foreach (var column in dependingColumns) active[column.Index] = true;
        return MappedGetters.InputColumnsFor(mapper, active);
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        => new MappedRow(mapper, input, activeColumns);
}
