using System.Buffers.Binary;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>A cursor over a <see cref="TokenStore"/>'s training documents: each row's ids without the end-of-text id before them, read from the map.</summary>
internal sealed class TokenStoreCursor : DataViewRowCursor
{
    private readonly TokenStore store;
    private readonly FileStream index;
    private readonly bool active;
    private readonly byte[] entry = new byte[16];
    private long position = -1;
    private long start, end;

    public TokenStoreCursor(TokenStore store, string indexPath, bool active)
    {
        this.store = store;
        this.active = active;
        index = new FileStream(indexPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    public override DataViewSchema Schema => store.Schema;

    public override long Position => position;

    public override long Batch => 0;

    public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId value) => value = new DataViewRowId((ulong)position, 0);

    public override bool IsColumnActive(DataViewSchema.Column column) => column.Index == 0 && active;

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (column.Index != 0 || !active) throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor.");
        if (typeof(TValue) != typeof(VBuffer<int>)) throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<Int32>, not {typeof(TValue).Name}.");
        ValueGetter<VBuffer<int>> getter = (ref VBuffer<int> value) =>
        {
            int length = checked((int)(end - start - 1));
            var editor = VBufferEditor.Create(ref value, length);
            store.Training.Read(start + 1, editor.Values);
            value = editor.Commit();
        };
        return (ValueGetter<TValue>)(Delegate)getter;
    }

    public override bool MoveNext()
    {
        long documents = store.Info.Train.Documents;
        if (position + 1 >= documents)
        {
            position = documents;
            return false;
        }
        position++;
        index.Position = position * 8;
        int want = position + 1 < documents ? 16 : 8;
        index.ReadExactly(entry, 0, want);
        start = BinaryPrimitives.ReadInt64LittleEndian(entry);
        end = want == 16 ? BinaryPrimitives.ReadInt64LittleEndian(entry.AsSpan(8)) : store.Info.Train.Tokens;
        if (start < 0 || end <= start || end > store.Info.Train.Tokens)
            throw new InvalidDataException($"Token index '{index.Name}': document {position} spans tokens {start} to {end} of {store.Info.Train.Tokens}; the index is damaged.");
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) index.Dispose();
        base.Dispose(disposing);
    }
}
