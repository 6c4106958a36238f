using TorchSharp;

namespace MLNet.MoE;

/// <summary>The safetensors element types: their sizes and the TorchSharp types they map to.</summary>
internal static class SafeTensorsDType
{
    private static readonly Dictionary<string, int> Sizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1,
        ["U8"] = 1,
        ["I8"] = 1,
        ["F8_E4M3"] = 1,
        ["F8_E5M2"] = 1,
        ["F8_E8M0"] = 1,
        ["I16"] = 2,
        ["U16"] = 2,
        ["F16"] = 2,
        ["BF16"] = 2,
        ["I32"] = 4,
        ["U32"] = 4,
        ["F32"] = 4,
        ["I64"] = 8,
        ["U64"] = 8,
        ["F64"] = 8,
    };

    private static readonly Dictionary<string, torch.ScalarType> ToTorch = new(StringComparer.Ordinal)
    {
        ["BOOL"] = torch.ScalarType.Bool,
        ["U8"] = torch.ScalarType.Byte,
        ["I8"] = torch.ScalarType.Int8,
        ["I16"] = torch.ScalarType.Int16,
        ["F16"] = torch.ScalarType.Float16,
        ["BF16"] = torch.ScalarType.BFloat16,
        ["I32"] = torch.ScalarType.Int32,
        ["F32"] = torch.ScalarType.Float32,
        ["I64"] = torch.ScalarType.Int64,
        ["F64"] = torch.ScalarType.Float64,
    };

    private static readonly Dictionary<torch.ScalarType, string> FromTorch = ToTorch.ToDictionary(p => p.Value, p => p.Key);

    /// <summary>The size in bytes of one element of a safetensors dtype; false for a name the format does not define.</summary>
    public static bool TryGetElementSize(string dtype, out int size) => Sizes.TryGetValue(dtype, out size);

    /// <summary>The TorchSharp type a safetensors dtype is read as; false where TorchSharp has no such type (FP8, unsigned wider than 8 bits).</summary>
    public static bool TryGetScalarType(string dtype, out torch.ScalarType type) => ToTorch.TryGetValue(dtype, out type);

    /// <summary>The safetensors name of a TorchSharp type; false for types the format cannot hold here (complex).</summary>
    public static bool TryGetName(torch.ScalarType type, out string name) => FromTorch.TryGetValue(type, out name!);

    /// <summary>The dtype names this library reads into tensors, for messages.</summary>
    public static string ReadableNames => string.Join(", ", ToTorch.Keys);

    /// <summary>True for the floating-point types a writer may convert to.</summary>
    public static bool IsFloating(torch.ScalarType type) =>
        type is torch.ScalarType.Float16 or torch.ScalarType.BFloat16 or torch.ScalarType.Float32 or torch.ScalarType.Float64;
}
