using Google.Protobuf;
using Microsoft.ML;
using Onnx;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>Clear errors and no partial files for inputs the export and the ONNX transformer cannot use.</summary>
public class OnnxBadInputTests
{
    private static MoeCausalLM SmallModel() => new(MLNet.MoE.Tests.Pipeline.PipelineTestData.SmallConfig with { NumNextnPredictLayers = 0 });

    [Fact]
    public void ADisposedModelIsRefusedAndNothingIsWritten()
    {
        var model = SmallModel();
        model.Dispose();
        string directory = Path.Combine(TestPaths.NewTempDirectory(), "export");
        var error = Assert.Throws<ObjectDisposedException>(() => OnnxExporter.Export(model, null, directory));
        Assert.Contains("disposed", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(directory));
    }

    [Fact]
    public void UnsupportedOptionsAreRefusedNamingTheOption()
    {
        using var model = SmallModel();
        string directory = Path.Combine(TestPaths.NewTempDirectory(), "export");
        var block = Assert.Throws<ArgumentOutOfRangeException>(() => OnnxExporter.Export(model, null, directory, new OnnxExportOptions { Weights = OnnxWeightType.Int4, BlockSize = 24 }));
        Assert.Contains("BlockSize", block.Message, StringComparison.Ordinal);
        var kernel = Assert.Throws<ArgumentOutOfRangeException>(() => OnnxExporter.Export(model, null, directory, new OnnxExportOptions { Weights = OnnxWeightType.Int8, Experts = OnnxExpertKernel.StandardOperators }));
        Assert.Contains("Experts", kernel.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(directory));
    }

    [Fact]
    public void NonFiniteWeightsAreRefusedNamingTheTensor()
    {
        using var model = SmallModel();
        using (TorchSharp.torch.no_grad()) model.state_dict()["model.norm.weight"][0] = float.NaN;
        string directory = Path.Combine(TestPaths.NewTempDirectory(), "export");
        var error = Assert.Throws<InvalidOperationException>(() => OnnxExporter.Export(model, null, directory));
        Assert.Contains("model.norm.weight", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(directory));
    }

    [Fact]
    public void AnUnwritablePathFailsClearlyAndLeavesNoPartialFiles()
    {
        using var model = SmallModel();
        string root = TestPaths.NewTempDirectory();
        string file = Path.Combine(root, "a-file");
        File.WriteAllText(file, "not a folder");
        var error = Assert.Throws<IOException>(() => OnnxExporter.Export(model, null, Path.Combine(file, "export")));
        Assert.Contains("Cannot write the ONNX export", error.Message, StringComparison.Ordinal);
        Assert.Equal(new[] { file }, Directory.GetFileSystemEntries(root));
    }

    [Fact]
    public void AFailedReExportKeepsThePreviousFilesIntact()
    {
        using var model = SmallModel();
        string directory = TestPaths.NewTempDirectory();
        OnnxExporter.Export(model, null, directory);
        byte[] before = File.ReadAllBytes(Path.Combine(directory, "model.onnx"));
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => OnnxExporter.Export(model, null, directory));
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(directory, "model.onnx")));
        Assert.DoesNotContain(Directory.GetFiles(directory), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public void TheOnnxTransformerRefusesNonOnnxTruncatedAndForeignFiles()
    {
        var trained = TrainedModel.Instance;
        var ml = new MLContext(seed: 1);
        var tokenizer = trained.Transformer.Tokenizer;
        string folder = TestPaths.NewTempDirectory();

        string text = Path.Combine(folder, "text.onnx");
        File.WriteAllText(text, "this is not an ONNX model");
        var notOnnx = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadLanguageModel(text, tokenizer));
        Assert.Contains("not a valid ONNX model", notOnnx.Message, StringComparison.Ordinal);

        string truncated = Path.Combine(folder, "truncated.onnx");
        byte[] bytes = File.ReadAllBytes(trained.ModelPath);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var cut = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadLanguageModel(truncated, tokenizer));
        Assert.Contains(truncated, cut.Message, StringComparison.Ordinal);

        var builder = new OnnxGraphBuilder();
        builder.Input("x", TensorProto.Types.DataType.Float, 2);
        builder.Output("y", TensorProto.Types.DataType.Float, 2);
        builder.NodeTo("y", "Identity", new[] { "x" });
        var foreignModel = new ModelProto { IrVersion = 10, Graph = builder.Graph };
        foreignModel.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 23 });
        string foreign = Path.Combine(folder, "foreign.onnx");
        File.WriteAllBytes(foreign, foreignModel.ToByteArray());
        var notOurs = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadLanguageModel(foreign, tokenizer));
        Assert.Contains("not one exported by MLNet.MoE", notOurs.Message, StringComparison.Ordinal);

        var missingTokenizer = Assert.Throws<FileNotFoundException>(() => ml.MoeOnnx().LoadLanguageModel(foreign));
        Assert.Contains("mlnet_moe_tokenizer.bin", missingTokenizer.Message, StringComparison.Ordinal);
    }
}
