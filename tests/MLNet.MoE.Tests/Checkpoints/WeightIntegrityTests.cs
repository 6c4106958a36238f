using System.IO.Compression;
using Google.Protobuf;
using Microsoft.ML;
using MLNet.MoE.Tests.Onnx;
using Onnx;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>
/// Weight bytes altered after saving are refused when the model is loaded, naming the damage, instead of silently
/// changing the scores: the SHA-256 recorded in a model zip's weights entry and in an ONNX export's metadata.
/// </summary>
public class WeightIntegrityTests
{
    internal static string SavedModelZip()
    {
        var ml = new MLContext(seed: 1);
        var model = TrainedModel.Instance;
        string path = Path.Combine(TestPaths.NewTempDirectory(), "model.zip");
        ml.Model.Save(model.Transformer, model.Data.Schema, path);
        return path;
    }

    private static string Messages(Exception error)
    {
        var text = new List<string>();
        for (Exception? e = error; e != null; e = e.InnerException) text.Add(e.Message);
        return string.Join(" | ", text);
    }

    [Fact]
    public void AnAlteredWeightInsideAValidZipIsRefused()
    {
        string path = SavedModelZip();
        var ml = new MLContext(seed: 1);
        using (ml.Model.Load(path, out _) as IDisposable) { }

        // A float in the middle of the block: the zip stays valid (its CRC-32 is rewritten with the entry).
        ZipEntries.Rewrite(path, ZipEntries.EndingWith("/Weights.bin"), bytes =>
        {
            bytes[bytes.Length / 2] ^= 0x10;
            return bytes;
        });
        var error = Assert.ThrowsAny<Exception>(() => ml.Model.Load(path, out _));
        Assert.Contains("SHA-256", Messages(error), StringComparison.Ordinal);
        Assert.Contains("Weights.bin", Messages(error), StringComparison.Ordinal);
    }

    [Fact]
    public void AnAlteredInlineOnnxWeightIsRefused()
    {
        string folder = TestPaths.NewTempDirectory();
        foreach (string file in Directory.GetFiles(TrainedModel.Instance.Directory)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        string modelPath = Path.Combine(folder, "model.onnx");
        Assert.False(File.Exists(Path.Combine(folder, "model.onnx.data")));
        var ml = new MLContext(seed: 1);
        ml.MoeOnnx().LoadLanguageModel(folder).Dispose();

        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
        var largest = proto.Graph.Initializer.OrderByDescending(t => t.RawData.Length).First();
        byte[] raw = largest.RawData.ToByteArray();
        raw[raw.Length / 2] ^= 0x10;
        largest.RawData = ByteString.CopyFrom(raw);
        File.WriteAllBytes(modelPath, proto.ToByteArray());

        var error = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadLanguageModel(folder));
        Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAlteredExternalOnnxWeightIsRefused()
    {
        var ml = new MLContext(seed: 1);
        string folder = Path.Combine(TestPaths.NewTempDirectory(), "export");
        ml.MoE().ExportOnnx(TrainedModel.Instance.Transformer, folder, new OnnxExportOptions { ExternalDataThresholdBytes = 1 });
        string data = Path.Combine(folder, "model.onnx.data");
        Assert.True(File.Exists(data));
        ml.MoeOnnx().LoadLanguageModel(folder).Dispose();

        byte[] bytes = File.ReadAllBytes(data);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(data, bytes);
        var error = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadLanguageModel(folder));
        Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
    }
}

/// <summary><c>mlContext.MoE().LoadModel</c> reports a damaged zip with the exception that explains it.</summary>
public class ModelLoadMessageTests
{
    [Fact]
    public void ADamagedEntryIsReportedUnwrappedNamingTheEntry()
    {
        var ml = new MLContext(seed: 1);
        string path = WeightIntegrityTests.SavedModelZip();
        byte[] bytes = File.ReadAllBytes(path);
        // The compressed bytes of the weights entry: after its local header (30 bytes, the name, the extra field).
        int nameAt = bytes.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes("Weights.bin"));
        int headerAt = bytes.AsSpan(0, nameAt).LastIndexOf(new byte[] { 0x50, 0x4b, 0x03, 0x04 });
        int dataAt = headerAt + 30 + BitConverter.ToUInt16(bytes, headerAt + 26) + BitConverter.ToUInt16(bytes, headerAt + 28);
        int compressed = BitConverter.ToInt32(bytes, headerAt + 18);
        Assert.True(compressed > 64, $"compressed size {compressed}");
        for (int i = 1; i <= 3; i++) bytes[dataAt + compressed * i / 4] ^= 0x21;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => ml.MoE().LoadModel(path, out _));
        Assert.Contains("Weights.bin", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileThatIsNotAZipIsNamed()
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "model.zip");
        File.WriteAllText(path, "not a zip");
        var error = Assert.Throws<InvalidDataException>(() => new MLContext(seed: 1).MoE().LoadModel(path, out _));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingFileIsNamed()
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "absent.zip");
        var error = Assert.Throws<FileNotFoundException>(() => new MLContext(seed: 1).MoE().LoadModel(path, out _));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
