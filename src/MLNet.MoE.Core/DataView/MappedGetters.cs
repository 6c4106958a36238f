using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>Resolves a getter of a mapped row or cursor: from the input for input columns, from the mapper for added ones.</summary>
internal static class MappedGetters
{
    public static ValueGetter<TValue> Get<TValue>(DataViewSchema.Column column, int inputCount, DataViewRow input, Delegate?[] getters, bool[] active)
    {
        if (column.Index < 0 || column.Index >= active.Length)
            throw new ArgumentOutOfRangeException(nameof(column), $"Column '{column.Name}' (index {column.Index}) is not in this row's schema.");
        if (!active[column.Index])
            throw new InvalidOperationException($"Column '{column.Name}' is not active in this row; ask for it when creating the cursor.");
        if (column.Index < inputCount) return input.GetGetter<TValue>(input.Schema[column.Index]);
        Delegate? getter = getters[column.Index - inputCount];
        return getter as ValueGetter<TValue>
            ?? throw new InvalidOperationException($"Column '{column.Name}' holds {column.Type}, not {typeof(TValue).Name}.");
    }

    /// <summary>The input columns to activate for the given active output columns.</summary>
    public static IEnumerable<DataViewSchema.Column> InputColumnsFor(ColumnMapper mapper, bool[] active)
    {
        int inputCount = mapper.InputSchema.Count;
        var needed = new HashSet<int>();
        for (int i = 0; i < inputCount; i++)
        {
            if (active[i]) needed.Add(i);
        }
        foreach (int index in mapper.GetInputDependencies(i => active[inputCount + i])) needed.Add(index);
        return needed.OrderBy(i => i).Select(i => mapper.InputSchema[i]);
    }
}
