using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>Reads a token-id column into documents (one per non-empty row), checking every id against the vocabulary.</summary>
internal static class TokenDocumentReader
{
    /// <summary>The non-empty rows of <paramref name="tokenColumn"/> and the number of empty rows skipped.</summary>
    /// <exception cref="InvalidOperationException">A row holds an id outside 0..<paramref name="vocabSize"/>-1; the message names the row and column.</exception>
    public static (List<int[]> Documents, long Skipped) Read(IDataView input, DataViewSchema.Column tokenColumn, int vocabSize)
    {
        var documents = new List<int[]>();
        long skipped = 0;
        using var cursor = input.GetRowCursor(new[] { tokenColumn });
        var getter = cursor.GetGetter<VBuffer<int>>(tokenColumn);
        VBuffer<int> buffer = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            int[] ids = buffer.DenseValues().ToArray();
            if (ids.Length == 0)
            {
                skipped++;
            }
            else
            {
                foreach (int id in ids)
                {
                    if ((uint)id >= (uint)vocabSize)
                        throw new InvalidOperationException($"Row {row} of column '{tokenColumn.Name}' holds token id {id}, outside the model's vocabulary (0..{vocabSize - 1}).");
                }
                documents.Add(ids);
            }
            row++;
        }
        return (documents, skipped);
    }
}
