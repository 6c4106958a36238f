using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>Writes tensors with <see cref="SafeTensorsWriter"/> and reads them back with <see cref="SafeTensorsFile"/>.</summary>
public class SafeTensorsRoundTripTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static List<KeyValuePair<string, Tensor>> FloatTensors()
    {
        torch.manual_seed(1234);
        return
        [
            new("special", torch.tensor(new[] { float.NaN, -0f, 0f, float.PositiveInfinity, float.NegativeInfinity, 1e-45f, float.MaxValue, 3.14159265f })),
            new("matrix", torch.randn(7, 5)),
            new("cube", torch.randn(2, 3, 4) * 1000),
            new("scalar", torch.tensor(2.5f)),
            new("empty", torch.zeros(0, 3)),
        ];
    }

    [Fact]
    public void Float32RoundTripIsBitIdentical()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = FloatTensors();
        string path = Path.Combine(_folder.Path, "f32.safetensors");
        SafeTensorsWriter.Write(path, tensors);

        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        Assert.Equal(tensors.Select(t => t.Key), file.Tensors.Keys);
        foreach ((string name, Tensor original) in tensors)
        {
            Assert.Equal("F32", file.Tensors[name].DType);
            Tensor read = file.ReadTensor(name);
            Assert.Equal(original.shape, read.shape);
            Assert.Equal(Bits(original), Bits(read));
        }
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, "BF16")]
    [InlineData(ScalarType.Float16, "F16")]
    public void HalfPrecisionStoresTheRoundedValues(ScalarType storeAs, string dtype)
    {
        using var scope = torch.NewDisposeScope();
        var tensors = FloatTensors();
        string path = Path.Combine(_folder.Path, dtype + ".safetensors");
        SafeTensorsWriter.Write(path, tensors, storeAs: storeAs);

        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        foreach ((string name, Tensor original) in tensors)
        {
            SafeTensorInfo info = file.Tensors[name];
            Assert.Equal(dtype, info.DType);
            Assert.Equal(info.ElementCount * 2, info.ByteLength);

            Tensor read = file.ReadTensor(name);
            Assert.Equal(ScalarType.Float32, read.dtype);
            Assert.Equal(Bits(original.to_type(storeAs).to_type(ScalarType.Float32)), Bits(read));

            Tensor native = file.ReadTensor(name, storeAs);
            Assert.Equal(storeAs, native.dtype);
            Assert.Equal(Bits(original.to_type(storeAs)), Bits(native));
        }
    }

    [Fact]
    public void TensorsKeepTheirOwnTypeWithoutStoreAs()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = new List<KeyValuePair<string, Tensor>>
        {
            new("bf16", torch.randn(4, 4).to_type(ScalarType.BFloat16)),
            new("f16", torch.randn(3).to_type(ScalarType.Float16)),
            new("f64", torch.randn(2, 2, dtype: ScalarType.Float64)),
            new("i64", torch.tensor(new long[] { long.MinValue, -1, 0, long.MaxValue })),
            new("i32", torch.tensor(new[] { int.MinValue, 7, int.MaxValue })),
            new("i8", torch.tensor(new sbyte[] { -128, 0, 127 })),
            new("u8", torch.tensor(new byte[] { 0, 1, 255 })),
            new("bool", torch.tensor(new[] { true, false, true })),
        };
        string path = Path.Combine(_folder.Path, "types.safetensors");
        SafeTensorsWriter.Write(path, tensors, storeAs: ScalarType.Float16);

        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        string[] expectedDtypes = ["F16", "F16", "F16", "I64", "I32", "I8", "U8", "BOOL"];
        Assert.Equal(expectedDtypes, file.Tensors.Values.Select(i => i.DType));

        // Integer and boolean tensors are never converted by storeAs and read back exactly in their own type.
        foreach ((string name, Tensor original) in tensors.Skip(3))
        {
            Tensor read = file.ReadTensor(name, original.dtype);
            Assert.Equal(original.dtype, read.dtype);
            Assert.True(TensorAssert.Same(original, read), name);
        }

        SafeTensorsWriter.Write(path, tensors.Take(3));
        using SafeTensorsFile kept = SafeTensorsFile.Open(path);
        Assert.Equal(["BF16", "F16", "F64"], kept.Tensors.Values.Select(i => i.DType));
        Assert.True(TensorAssert.Same(tensors[0].Value, kept.ReadTensor("bf16", ScalarType.BFloat16)));
        Assert.True(TensorAssert.Same(tensors[2].Value, kept.ReadTensor("f64", ScalarType.Float64)));
    }

    [Fact]
    public void ReadingAndWritingInSmallChunksGivesTheSameTensors()
    {
        int saved = TensorBytes.ChunkBytes;
        TensorBytes.ChunkBytes = 12;
        try
        {
            using var scope = torch.NewDisposeScope();
            Tensor f32 = torch.randn(10, 101);
            Tensor bf16 = torch.randn(333).to_type(ScalarType.BFloat16);
            string path = Path.Combine(_folder.Path, "chunks.safetensors");
            SafeTensorsWriter.Write(path, [new("f32", f32), new("bf16", bf16)]);
            using SafeTensorsFile file = SafeTensorsFile.Open(path);
            Assert.Equal(Bits(f32), Bits(file.ReadTensor("f32")));
            Assert.True(TensorAssert.Same(bf16, file.ReadTensor("bf16", ScalarType.BFloat16)));
        }
        finally
        {
            TensorBytes.ChunkBytes = saved;
        }
    }

    [Fact]
    public void NonContiguousTensorsAreWrittenInLogicalOrder()
    {
        using var scope = torch.NewDisposeScope();
        Tensor matrix = torch.arange(12, dtype: ScalarType.Float32).reshape(3, 4);
        Tensor transposed = matrix.t();
        string path = Path.Combine(_folder.Path, "t.safetensors");
        SafeTensorsWriter.Write(path, [new("t", transposed)]);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        Tensor read = file.ReadTensor("t");
        Assert.Equal([4L, 3L], read.shape);
        Assert.True(TensorAssert.Same(transposed, read));
    }

    [Fact]
    public void HeaderIsPaddedToEightBytesAndCarriesMetadata()
    {
        using var scope = torch.NewDisposeScope();
        string plain = Path.Combine(_folder.Path, "plain.safetensors");
        SafeTensorsWriter.Write(plain, [new("a", torch.ones(3))]);
        string custom = Path.Combine(_folder.Path, "custom.safetensors");
        SafeTensorsWriter.Write(custom, [new("a", torch.ones(3))], new Dictionary<string, string> { ["step"] = "42" });

        foreach (string path in new[] { plain, custom })
        {
            byte[] bytes = File.ReadAllBytes(path);
            long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0, n % 8);
            Assert.Equal(8 + n + 12, bytes.Length);
            string header = System.Text.Encoding.UTF8.GetString(bytes, 8, (int)n);
            Assert.StartsWith("{", header);
            Assert.EndsWith("}", header.TrimEnd(' '));
            Assert.True(header.Length - header.TrimEnd(' ').Length < 8);
            using var doc = JsonDocument.Parse(header);
            Assert.Equal("pt", doc.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
        }

        using SafeTensorsFile file = SafeTensorsFile.Open(custom);
        Assert.Equal("42", file.Metadata["step"]);
        Assert.Equal("pt", file.Metadata["format"]);
    }

    [Fact]
    public void WritingOverAnExistingFileReplacesIt()
    {
        using var scope = torch.NewDisposeScope();
        string path = Path.Combine(_folder.Path, "model.safetensors");
        SafeTensorsWriter.Write(path, [new("old", torch.ones(100))]);
        SafeTensorsWriter.Write(path, [new("new", torch.zeros(2))]);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        Assert.Equal(["new"], file.Tensors.Keys);
        Assert.Equal(["model.safetensors"], _folder.FileNames());
    }

    // TorchSharp's data<T>().ToArray() throws on tensors with no elements, so those compare as empty.
    private static int[] Bits(Tensor t) => t.NumberOfElements == 0 ? [] :
        t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
}
