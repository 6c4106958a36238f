using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace MLNet.MoE;

/// <summary>
/// Appends nodes, initializers, inputs and outputs to an ONNX <see cref="GraphProto"/> (OnnxSharp's generated protobuf
/// types). ONNX's own helper (<c>onnx.helper</c>) is Python-only; this is the small C# equivalent the exporter needs:
/// unique value names, typed attributes and little-endian raw initializers.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    /// <summary>The contrib-operator domain of ONNX Runtime (<c>MoE</c>, <c>QMoE</c>, <c>MatMulNBits</c>).</summary>
    public const string MicrosoftDomain = "com.microsoft";

    private readonly Dictionary<string, int> counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> constants = new(StringComparer.Ordinal);

    /// <summary>The graph being built.</summary>
    public GraphProto Graph { get; } = new() { Name = "main_graph" };

    /// <summary>Bytes of all initializers added so far.</summary>
    public long InitializerBytes { get; private set; }

    /// <summary>A value name not used before, starting with <paramref name="hint"/>.</summary>
    public string Fresh(string hint)
    {
        counters.TryGetValue(hint, out int n);
        counters[hint] = n + 1;
        return n == 0 ? hint : $"{hint}_{n}";
    }

    /// <summary>Declares a graph input; dims are fixed sizes (long) or symbolic names (string).</summary>
    public string Input(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        Graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>Declares a graph output.</summary>
    public void Output(string name, TensorProto.Types.DataType type, params object[] dims) => Graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>Adds a float32 initializer of the given shape.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] dims) =>
        RawInitializer(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(values).ToArray(), dims);

    /// <summary>Adds an int64 initializer of the given shape.</summary>
    public string Initializer(string name, ReadOnlySpan<long> values, params long[] dims) =>
        RawInitializer(name, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(values).ToArray(), dims);

    /// <summary>Adds an initializer from little-endian bytes.</summary>
    public string RawInitializer(string name, TensorProto.Types.DataType type, byte[] bytes, params long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian; export runs on little-endian machines only.");
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        Graph.Initializer.Add(tensor);
        InitializerBytes += bytes.Length;
        return name;
    }

    /// <summary>A shared int64 1-D constant (one initializer per distinct value list).</summary>
    public string Int64s(params long[] values)
    {
        string key = "i64:" + string.Join(',', values);
        if (!constants.TryGetValue(key, out string? name))
        {
            name = Initializer(Fresh("const_i64"), values, values.Length);
            constants[key] = name;
        }
        return name;
    }

    /// <summary>A shared float32 scalar constant.</summary>
    public string Scalar(float value)
    {
        string key = "f32:" + BitConverter.SingleToInt32Bits(value);
        if (!constants.TryGetValue(key, out string? name))
        {
            name = Initializer(Fresh("const_f32"), new[] { value });
            constants[key] = name;
        }
        return name;
    }

    /// <summary>Adds a node with one output and returns the output name.</summary>
    public string Node(string opType, string[] inputs, params (string Name, object Value)[] attributes) =>
        NodeWithOutputs(opType, inputs, 1, null, attributes)[0];

    /// <summary>Adds a node of <paramref name="domain"/> with one output and returns the output name.</summary>
    public string NodeIn(string domain, string opType, string[] inputs, params (string Name, object Value)[] attributes) =>
        NodeWithOutputs(opType, inputs, 1, domain, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputCount"/> fresh outputs (or the given names) and returns them.</summary>
    public string[] NodeWithOutputs(string opType, string[] inputs, int outputCount, string? domain, (string Name, object Value)[] attributes, string[]? outputNames = null)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh(opType + "_node") };
        if (domain != null) node.Domain = domain;
        node.Input.AddRange(inputs);
        var outputs = outputNames ?? Enumerable.Range(0, outputCount).Select(_ => Fresh(opType.ToLowerInvariant())).ToArray();
        node.Output.AddRange(outputs);
        foreach (var (name, value) in attributes) node.Attribute.Add(Attribute(name, value));
        Graph.Node.Add(node);
        return outputs;
    }

    /// <summary>Adds a node writing to a named output (a graph output, say).</summary>
    public void NodeTo(string output, string opType, string[] inputs, params (string Name, object Value)[] attributes) =>
        NodeWithOutputs(opType, inputs, 1, null, attributes, new[] { output });

    private static AttributeProto Attribute(string name, object value)
    {
        var attribute = new AttributeProto { Name = name };
        switch (value)
        {
            case int i:
                attribute.Type = AttributeProto.Types.AttributeType.Int;
                attribute.I = i;
                break;
            case long l:
                attribute.Type = AttributeProto.Types.AttributeType.Int;
                attribute.I = l;
                break;
            case float f:
                attribute.Type = AttributeProto.Types.AttributeType.Float;
                attribute.F = f;
                break;
            case string s:
                attribute.Type = AttributeProto.Types.AttributeType.String;
                attribute.S = ByteString.CopyFromUtf8(s);
                break;
            case long[] ls:
                attribute.Type = AttributeProto.Types.AttributeType.Ints;
                attribute.Ints.AddRange(ls);
                break;
            case TensorProto t:
                attribute.Type = AttributeProto.Types.AttributeType.Tensor;
                attribute.T = t;
                break;
            default:
                throw new ArgumentException($"Attribute '{name}' has an unsupported type {value.GetType().Name}.", nameof(value));
        }
        return attribute;
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (object dim in dims)
        {
            shape.Dim.Add(dim switch
            {
                string symbol => new TensorShapeProto.Types.Dimension { DimParam = symbol },
                int size => new TensorShapeProto.Types.Dimension { DimValue = size },
                long size => new TensorShapeProto.Types.Dimension { DimValue = size },
                _ => throw new ArgumentException($"Dimension of '{name}' must be a size or a symbolic name.", nameof(dims)),
            });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
