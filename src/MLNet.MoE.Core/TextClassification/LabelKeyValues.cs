using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// The values behind a key-typed label (its <c>KeyValues</c> annotation), kept by the text classifier so that its
/// <c>PredictedLabel</c> column carries the same annotation (and <c>MapKeyToValue</c> works) without the label column,
/// and saved in the model zip. Item types: Text, Boolean and the numeric types ML.NET loads. An ONNX export records them
/// as text with their type's name (<see cref="TypeName"/>), and <see cref="Parse"/> reads them back.
/// </summary>
internal sealed class LabelKeyValues
{
    private static readonly Dictionary<Type, (byte Code, DataViewType Type, string Name)> Supported = new()
    {
        [typeof(ReadOnlyMemory<char>)] = (1, TextDataViewType.Instance, "Text"),
        [typeof(bool)] = (2, BooleanDataViewType.Instance, "Boolean"),
        [typeof(float)] = (3, NumberDataViewType.Single, "Single"),
        [typeof(double)] = (4, NumberDataViewType.Double, "Double"),
        [typeof(int)] = (5, NumberDataViewType.Int32, "Int32"),
        [typeof(long)] = (6, NumberDataViewType.Int64, "Int64"),
        [typeof(uint)] = (7, NumberDataViewType.UInt32, "UInt32"),
        [typeof(ulong)] = (8, NumberDataViewType.UInt64, "UInt64"),
        [typeof(short)] = (9, NumberDataViewType.Int16, "Int16"),
        [typeof(ushort)] = (10, NumberDataViewType.UInt16, "UInt16"),
        [typeof(byte)] = (11, NumberDataViewType.Byte, "Byte"),
        [typeof(sbyte)] = (12, NumberDataViewType.SByte, "SByte"),
    };

    private LabelKeyValues(DataViewType itemType, Array values)
    {
        ItemType = itemType;
        Values = values;
    }

    /// <summary>The item type of the values.</summary>
    public DataViewType ItemType { get; }

    /// <summary>One value per class, in key order (key k has value k-1).</summary>
    public Array Values { get; }

    /// <summary>The key values of <paramref name="label"/>, or null when it has none; throws when their type cannot be saved.</summary>
    public static LabelKeyValues? From(DataViewSchema.Column label)
    {
        var column = label.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues);
        if (column == null) return null;
        if (column.Value.Type is not VectorDataViewType vector || !Supported.ContainsKey(vector.ItemType.RawType))
            throw new ArgumentOutOfRangeException("Label", $"The key values of label column '{label.Name}' are of type {column.Value.Type}, which the text classifier cannot save: map the label from Text, Boolean or a number.");
        var read = typeof(LabelKeyValues).GetMethod(nameof(ReadValues), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(vector.ItemType.RawType);
        var values = (Array)read.Invoke(null, new object[] { label.Annotations, column.Value })!;
        return new LabelKeyValues(vector.ItemType, values);
    }

    /// <summary>Adds the <c>KeyValues</c> annotation (and, for the score column, <c>SlotNames</c> as text) to <paramref name="builder"/>.</summary>
    public void AddKeyValues(DataViewSchema.Annotations.Builder builder)
    {
        var getter = typeof(LabelKeyValues).GetMethod(nameof(Getter), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(ItemType.RawType);
        builder.Add(AnnotationUtils.Kinds.KeyValues, new VectorDataViewType((PrimitiveDataViewType)ItemType, Values.Length), (Delegate)getter.Invoke(null, new object[] { Values })!);
    }

    /// <summary>The values as text (for slot names): invariant culture, and numbers in their shortest round-trip form, so <see cref="Parse"/> gives them back.</summary>
    public string[] AsText() => Values.Cast<object>().Select(v => v is ReadOnlyMemory<char> m ? m.ToString() : Convert.ToString(v, CultureInfo.InvariantCulture) ?? "").ToArray();

    /// <summary>The name of the item type (<c>Text</c>, <c>Boolean</c>, <c>Single</c>, <c>Int32</c>, ...), read back by <see cref="Parse"/>.</summary>
    public string TypeName => Supported[ItemType.RawType].Name;

    /// <summary>
    /// Key values of type <paramref name="typeName"/> (a <see cref="TypeName"/>) from their text (<see cref="AsText"/>);
    /// throws <see cref="FormatException"/> for an unknown type name or a value that does not parse as the type.
    /// </summary>
    public static LabelKeyValues Parse(string typeName, IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var entry = Supported.FirstOrDefault(kv => kv.Value.Name == typeName);
        if (entry.Key == null) throw new FormatException($"'{typeName}' is not a key value type (expected one of {string.Join(", ", Supported.Values.Select(v => v.Name))}).");
        var values = Array.CreateInstance(entry.Key, texts.Count);
        for (int i = 0; i < texts.Count; i++)
        {
            string text = texts[i] ?? throw new FormatException($"Key value {i} is null.");
            values.SetValue(ParseValue(entry.Value.Code, text), i);
        }
        return new LabelKeyValues(entry.Value.Type, values);
    }

    private static object ParseValue(byte code, string text)
    {
        const NumberStyles Integer = NumberStyles.AllowLeadingSign;
        var culture = CultureInfo.InvariantCulture;
        try
        {
            return code switch
            {
                1 => text.AsMemory(),
                2 => bool.Parse(text),
                3 => float.Parse(text, NumberStyles.Float, culture),
                4 => double.Parse(text, NumberStyles.Float, culture),
                5 => int.Parse(text, Integer, culture),
                6 => long.Parse(text, Integer, culture),
                7 => uint.Parse(text, Integer, culture),
                8 => ulong.Parse(text, Integer, culture),
                9 => short.Parse(text, Integer, culture),
                10 => ushort.Parse(text, Integer, culture),
                11 => byte.Parse(text, Integer, culture),
                _ => sbyte.Parse(text, Integer, culture),
            };
        }
        catch (OverflowException e)
        {
            throw new FormatException($"Key value '{text}' is out of range: {e.Message}", e);
        }
    }

    public static void Write(BinaryWriter writer, LabelKeyValues? values)
    {
        if (values == null)
        {
            writer.Write((byte)0);
            return;
        }
        writer.Write(Supported[values.ItemType.RawType].Code);
        writer.Write(values.Values.Length);
        foreach (object v in values.Values)
        {
            switch (v)
            {
                case ReadOnlyMemory<char> m: writer.Write(m.ToString()); break;
                case bool b: writer.Write(b); break;
                case float f: writer.Write(f); break;
                case double d: writer.Write(d); break;
                case int i: writer.Write(i); break;
                case long l: writer.Write(l); break;
                case uint u: writer.Write(u); break;
                case ulong ul: writer.Write(ul); break;
                case short s: writer.Write(s); break;
                case ushort us: writer.Write(us); break;
                case byte by: writer.Write(by); break;
                case sbyte sb: writer.Write(sb); break;
                default: throw new InvalidOperationException($"Cannot save a key value of type {v.GetType()}.");
            }
        }
    }

    public static LabelKeyValues? Read(BinaryReader reader, int classCount)
    {
        byte code = reader.ReadByte();
        if (code == 0) return null;
        var entry = Supported.FirstOrDefault(kv => kv.Value.Code == code);
        if (entry.Key == null) throw new InvalidDataException($"The text classifier's label key values have an unknown type code {code}: the model file is corrupt.");
        int count = reader.ReadInt32();
        if (count != classCount) throw new InvalidDataException($"The text classifier holds {count} label key values for {classCount} classes: the model file is corrupt.");
        var values = Array.CreateInstance(entry.Key, count);
        for (int i = 0; i < count; i++)
        {
            object v = code switch
            {
                1 => reader.ReadString().AsMemory(),
                2 => reader.ReadBoolean(),
                3 => reader.ReadSingle(),
                4 => reader.ReadDouble(),
                5 => reader.ReadInt32(),
                6 => reader.ReadInt64(),
                7 => reader.ReadUInt32(),
                8 => reader.ReadUInt64(),
                9 => reader.ReadInt16(),
                10 => reader.ReadUInt16(),
                11 => reader.ReadByte(),
                _ => reader.ReadSByte(),
            };
            values.SetValue(v, i);
        }
        return new LabelKeyValues(entry.Value.Type, values);
    }

    private static T[] ReadValues<T>(DataViewSchema.Annotations annotations, DataViewSchema.Column column)
    {
        VBuffer<T> buffer = default;
        annotations.GetGetter<VBuffer<T>>(column)(ref buffer);
        return buffer.DenseValues().ToArray();
    }

    private static ValueGetter<VBuffer<T>> Getter<T>(Array values)
    {
        var typed = (T[])values;
        return (ref VBuffer<T> v) => new VBuffer<T>(typed.Length, (T[])typed.Clone()).CopyTo(ref v);
    }
}
