using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNet.MoE.Tests.Fuzzing;
using MLNet.MoE.Tests.Onnx;
using TorchSharp;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>Files that once crashed a loader, hung it or printed binary data, kept as they were found.</summary>
public class UntrustedFileRegressionTests
{
    /// <summary>A model zip whose Config.json says <c>num_hidden_layers: 100000</c> aborted the process in an allocation.</summary>
    [Fact]
    public void AModelZipWhoseConfigAsksForAHundredThousandLayersIsRefused()
    {
        var ml = new MLContext(seed: 1);
        string path = WeightIntegrityTests.SavedModelZip();
        ZipEntries.Rewrite(path, ZipEntries.EndingWith("/Config.json"), block =>
        {
            var config = JsonNode.Parse(Encoding.UTF8.GetString(block, 4, block.Length - 4))!.AsObject();
            config["num_hidden_layers"] = 100_000;
            byte[] json = Encoding.UTF8.GetBytes(config.ToJsonString());
            return [.. BitConverter.GetBytes(json.Length), .. json];
        });
        var error = Assert.Throws<InvalidDataException>(() => ml.MoE().LoadModel(path, out _));
        Assert.Contains("Config.json", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A Hugging Face config with a huge layer count ran for half a minute into OutOfMemoryException.</summary>
    [Theory]
    [InlineData("num_hidden_layers", 100_000)]
    [InlineData("vocab_size", int.MaxValue)]
    public void AHuggingFaceConfigWithAHugeSizeIsRefusedBeforeTheTensorListIsBuilt(string field, int value)
    {
        string folder = TinyCheckpoints.With(field, value);
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceCheckpoint.Load(folder));
        Assert.Contains($"'{field}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("ModelSizeLimits", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A damaged weights block printed hundreds of raw binary bytes as a "tensor name".</summary>
    [Fact]
    public void ADamagedTensorNameIsReportedWithoutBinaryData()
    {
        using var model = new MoeCausalLM(MLNet.MoE.Tests.Modeling.SmallModels.Base);
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) ModelWeightsFormat.Write(writer, model);
        byte[] bytes = buffer.ToArray();
        // The first name follows the magic and the count (4 + 4 bytes) and its one-byte length prefix.
        for (int i = 9; i < 9 + bytes[8]; i++) bytes[i] = (byte)(i % 2 == 0 ? 0x01 : 0xC3);
        using var reader = new BinaryReader(new MemoryStream(bytes));
        var error = Assert.Throws<InvalidDataException>(() => ModelWeightsFormat.Read(reader, model, "Weights.bin"));
        Assert.True(FuzzCase.Readable(error.Message), error.Message);
        Assert.Contains("Weights.bin", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A diverged model (NaN weights) saved without complaint and could not be used after loading.</summary>
    [Fact]
    public void ANonFiniteModelIsNotSaved()
    {
        using var model = new MoeCausalLM(MLNet.MoE.Tests.Modeling.SmallModels.Base);
        using (torch.no_grad()) model.state_dict()["model.norm.weight"][0] = float.PositiveInfinity;
        using var writer = new BinaryWriter(new MemoryStream());
        var error = Assert.Throws<InvalidOperationException>(() => ModelWeightsFormat.Write(writer, model));
        Assert.Contains("model.norm.weight", error.Message, StringComparison.Ordinal);
    }
}
