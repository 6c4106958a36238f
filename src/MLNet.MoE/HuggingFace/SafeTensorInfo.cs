namespace MLNet.MoE;

/// <summary>One tensor entry of a safetensors header: its name, element type, shape and where its bytes lie.</summary>
internal sealed class SafeTensorInfo
{
    /// <summary>Creates an entry.</summary>
    /// <param name="name">The tensor's name, e.g. <c>model.embed_tokens.weight</c>.</param>
    /// <param name="dtype">The safetensors element type, e.g. <c>F32</c>, <c>BF16</c>.</param>
    /// <param name="shape">The tensor's dimensions; empty for a scalar.</param>
    /// <param name="begin">Offset of the first byte, counted from the start of the data area (after the header).</param>
    /// <param name="end">Offset one past the last byte, counted from the start of the data area.</param>
    public SafeTensorInfo(string name, string dtype, long[] shape, long begin, long end)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(dtype);
        ArgumentNullException.ThrowIfNull(shape);
        Name = name;
        DType = dtype;
        Shape = shape;
        Begin = begin;
        End = end;
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>The safetensors element type as written in the header, e.g. <c>F32</c>, <c>BF16</c>, <c>F16</c>.</summary>
    public string DType { get; }

    /// <summary>The tensor's dimensions; empty for a scalar.</summary>
    public long[] Shape { get; }

    /// <summary>Offset of the tensor's first byte, counted from the start of the data area.</summary>
    public long Begin { get; }

    /// <summary>Offset one past the tensor's last byte, counted from the start of the data area.</summary>
    public long End { get; }

    /// <summary>The number of bytes the tensor occupies: <see cref="End"/> − <see cref="Begin"/>.</summary>
    public long ByteLength => End - Begin;

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (long d in Shape) count = checked(count * d);
            return count;
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {DType}[{string.Join(", ", Shape)}] @ [{Begin}, {End})";
}
