using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>A cursor over a <see cref="MappedDataView"/>: moves the input cursor and computes added columns lazily.</summary>
internal sealed class MappedCursor : DataViewRowCursor
{
    private readonly DataViewRowCursor input;
    private readonly Delegate?[] getters;
    private readonly bool[] active;
    private readonly int inputCount;

    public MappedCursor(ColumnMapper mapper, DataViewRowCursor input, bool[] active)
    {
        this.input = input;
        this.active = active;
        Schema = mapper.OutputSchema;
        inputCount = mapper.InputSchema.Count;
        getters = mapper.CreateGetters(input, i => active[inputCount + i]);
    }

    public override DataViewSchema Schema { get; }

    public override long Position => input.Position;

    public override long Batch => input.Batch;

    public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

    public override bool IsColumnActive(DataViewSchema.Column column) => active[column.Index];

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => MappedGetters.Get<TValue>(column, inputCount, input, getters, active);

    public override bool MoveNext() => input.MoveNext();

    protected override void Dispose(bool disposing)
    {
        if (disposing) input.Dispose();
        base.Dispose(disposing);
    }
}
