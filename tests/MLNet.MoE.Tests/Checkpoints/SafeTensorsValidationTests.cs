using System.Buffers.Binary;
using TorchSharp;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>Malformed safetensors files, built byte by byte, are refused with messages that say what is wrong and where.</summary>
public class SafeTensorsValidationTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private InvalidDataException Refused(string path)
    {
        var e = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        return e;
    }

    private InvalidDataException RefusedHeader(string json, int dataBytes)
    {
        return Refused(CraftedFiles.Write(_folder.Path, "bad.safetensors", json, dataBytes));
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        string path = Path.Combine(_folder.Path, "absent.safetensors");
        var e = Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open(path));
        Assert.Equal(path, e.FileName);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void FileShorterThanTheLengthPrefixIsRefused()
    {
        var e = Refused(CraftedFiles.WriteBytes(_folder.Path, "short.safetensors", [1, 2, 3, 4, 5]));
        Assert.Contains("8-byte", e.Message);
        Refused(CraftedFiles.WriteBytes(_folder.Path, "empty.safetensors", []));
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRefused()
    {
        var e = Refused(CraftedFiles.Write(_folder.Path, "long.safetensors", "{}", 0, declaredHeaderLength: 1000));
        Assert.Contains("1000", e.Message);
        Assert.Contains("past the end", e.Message);

        // The largest possible length must not overflow into a small or negative number.
        Refused(CraftedFiles.Write(_folder.Path, "huge.safetensors", "{}", 0, declaredHeaderLength: ulong.MaxValue));
    }

    [Fact]
    public void HeaderLengthZeroIsRefused()
    {
        var e = Refused(CraftedFiles.Write(_folder.Path, "zero.safetensors", "", 16));
        Assert.Contains("header length is 0", e.Message);
    }

    [Fact]
    public void HeaderLengthAboveTheCapIsRefusedWithoutReadingIt()
    {
        // A sparse file, so it costs no disk space: 8 bytes declaring a 150 MB header, then 200 MB of zeros.
        string path = Path.Combine(_folder.Path, "cap.safetensors");
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, 150UL << 20);
            stream.Write(prefix);
            stream.SetLength(200L << 20);
        }
        var e = Refused(path);
        Assert.Contains("limit", e.Message);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("{\"a\": {\"dtype\": \"F32\"")]
    [InlineData("\u0000\u0000\u0000\u0000")]
    public void InvalidJsonIsRefused(string header)
    {
        var e = RefusedHeader(header, 4);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void HeaderThatIsNotAnObjectIsRefused()
    {
        var e = RefusedHeader("[1, 2]", 0);
        Assert.Contains("not an object", e.Message);
    }

    [Theory]
    [InlineData("dtype", "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}")]
    [InlineData("shape", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}")]
    [InlineData("data_offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}")]
    public void EntryMissingAFieldIsRefused(string field, string header)
    {
        var e = RefusedHeader(header, 4);
        Assert.Contains("'w'", e.Message);
        Assert.Contains($"'{field}'", e.Message);
    }

    [Theory]
    [InlineData("shape", "{\"w\": {\"dtype\": \"F32\", \"shape\": \"1\", \"data_offsets\": [0, 4]}}")]
    [InlineData("shape", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}")]
    [InlineData("data_offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}")]
    [InlineData("data_offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}")]
    [InlineData("dtype", "{\"w\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}")]
    public void EntryWithAMalformedFieldIsRefused(string field, string header)
    {
        var e = RefusedHeader(header, 4);
        Assert.Contains("'w'", e.Message);
        Assert.Contains($"'{field}'", e.Message);
    }

    [Fact]
    public void UnknownDtypeIsRefused()
    {
        var e = RefusedHeader("{\"w\": {\"dtype\": \"F7\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("'dtype'", e.Message);
        Assert.Contains("F7", e.Message);
    }

    [Fact]
    public void NegativeDimensionIsRefused()
    {
        var e = RefusedHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1, -4], \"data_offsets\": [0, 16]}}", 16);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("'shape'", e.Message);
        Assert.Contains("negative", e.Message);
    }

    [Fact]
    public void ShapeThatDisagreesWithTheByteSpanIsRefused()
    {
        var e = RefusedHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 24);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("'shape'", e.Message);
        Assert.Contains("'data_offsets'", e.Message);
        Assert.Contains("24", e.Message);
    }

    [Fact]
    public void ShapeWhoseSizeOverflowsIsRefused()
    {
        // 2^62 x 2^62 elements: the product overflows 64 bits and must not wrap around to match the offsets.
        var e = RefusedHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4611686018427387904], \"data_offsets\": [0, 0]}}", 0);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("'shape'", e.Message);
    }

    [Fact]
    public void OffsetsOutsideTheDataAreaAreRefused()
    {
        var e = RefusedHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 8);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("'data_offsets'", e.Message);
        Assert.Contains("outside the data area", e.Message);
    }

    [Fact]
    public void OffsetsThatBeginAfterTheyEndAreRefused()
    {
        var e = RefusedHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("'data_offsets'", e.Message);
    }

    [Fact]
    public void OverlappingTensorsAreRefused()
    {
        var e = RefusedHeader(
            "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, " +
            "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("'b'", e.Message);
        Assert.Contains("overlap", e.Message);
    }

    [Fact]
    public void RepeatedTensorNameIsRefused()
    {
        var e = RefusedHeader(
            "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, " +
            "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("twice", e.Message);
    }

    [Fact]
    public void MetadataThatIsNotAStringMapIsRefused()
    {
        var e = RefusedHeader("{\"__metadata__\": {\"format\": 1}}", 0);
        Assert.Contains("__metadata__", e.Message);
        Assert.Contains("'format'", e.Message);
    }

    [Fact]
    public void MissingTensorNamesTensorAndFile()
    {
        string path = CraftedFiles.Write(_folder.Path, "ok.safetensors",
            "{\"__metadata__\": {\"format\": \"pt\"}, \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        var e = Assert.Throws<KeyNotFoundException>(() => file.ReadTensor("nope"));
        Assert.Contains("'nope'", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Fp8TensorIsListedButCannotBeRead()
    {
        string path = CraftedFiles.Write(_folder.Path, "fp8.safetensors",
            "{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [2, 2], \"data_offsets\": [0, 4]}}", 4);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        Assert.Equal("F8_E4M3", file.Tensors["w"].DType);
        var e = Assert.Throws<NotSupportedException>(() => file.ReadTensor("w"));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("F8_E4M3", e.Message);
    }

    [Fact]
    public void ZeroSizedTensorsAndGapsAreAccepted()
    {
        string path = CraftedFiles.Write(_folder.Path, "gaps.safetensors",
            "{\"e\": {\"dtype\": \"F32\", \"shape\": [0, 5], \"data_offsets\": [4, 4]}, " +
            "\"w\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [1, 4]}, " +
            "\"s\": {\"dtype\": \"I16\", \"shape\": [], \"data_offsets\": [6, 8]}}", 8);
        using var scope = torch.NewDisposeScope();
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        Assert.Equal(["w", "e", "s"], file.Tensors.Keys);
        Assert.Equal([0L, 5L], file.ReadTensor("e").shape);
        // CraftedFiles fills data byte i with the value i.
        Assert.Equal(new byte[] { 1, 2, 3 }, file.ReadTensor("w", torch.ScalarType.Byte).data<byte>().ToArray());
        Assert.Equal((short)(6 | 7 << 8), file.ReadTensor("s", torch.ScalarType.Int16).item<short>());
    }
}
