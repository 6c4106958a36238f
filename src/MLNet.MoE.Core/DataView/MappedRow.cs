using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>A row of a mapper's output schema over an input row: input columns pass through, added columns come from the mapper's getters.</summary>
internal sealed class MappedRow : DataViewRow
{
    private readonly DataViewRow input;
    private readonly Delegate?[] getters;
    private readonly bool[] active;
    private readonly int inputCount;

    public MappedRow(ColumnMapper mapper, DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        this.input = input;
        Schema = mapper.OutputSchema;
        inputCount = mapper.InputSchema.Count;
        active = new bool[Schema.Count];
        foreach (var column in activeColumns) active[column.Index] = true;
        getters = mapper.CreateGetters(input, i => active[inputCount + i]);
    }

    public override DataViewSchema Schema { get; }

    public override long Position => input.Position;

    public override long Batch => input.Batch;

    public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

    public override bool IsColumnActive(DataViewSchema.Column column) => active[column.Index];

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => MappedGetters.Get<TValue>(column, inputCount, input, getters, active);
}
