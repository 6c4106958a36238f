using System.IO.Compression;
using Google.Protobuf;
using Microsoft.ML;
using MLNet.MoE.Tests.Onnx;
using Onnx;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>A tokenizer that is not the one a model was saved or trained with is refused, not used for the wrong ids.</summary>
public class TokenizerConsistencyTests
{
    [Fact]
    public void AReplacedTokenizerEntryInAModelZipIsRefused()
    {
        var ml = new MLContext(seed: 1);
        string path = WeightIntegrityTests.SavedModelZip();
        byte[] other = MLNet.MoE.MoeTokenizer.Gpt2().Serialize();
        // The language model's tokenizer block (the one beside the weights): a valid entry of another tokenizer.
        ZipEntries.Rewrite(path, ZipEntries.EndingWith("/Tokenizer.bin"), _ => [.. BitConverter.GetBytes(other.Length), .. other]);
        var error = Assert.ThrowsAny<Exception>(() => ml.Model.Load(path, out _));
        string messages = string.Join(" | ", Chain(error).Select(e => e.Message));
        Assert.Contains("Tokenizer.bin", messages, StringComparison.Ordinal);
        Assert.Contains("SHA-256", messages, StringComparison.Ordinal);
    }

    [Fact]
    public void AReplacedTokenizerInAnOnnxExportIsRefused()
    {
        string folder = TestPaths.NewTempDirectory();
        foreach (string file in Directory.GetFiles(TrainedModel.Instance.Directory)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        File.WriteAllBytes(Path.Combine(folder, "mlnet_moe_tokenizer.bin"), MLNet.MoE.MoeTokenizer.Gpt2().Serialize());
        var error = Assert.Throws<InvalidDataException>(() => new MLContext(seed: 1).MoeOnnx().LoadLanguageModel(folder));
        Assert.Contains("mlnet_moe_tokenizer.bin", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ATokenizerOptionThatDiffersFromTheTokenColumnsIsRefusedAtFit()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(MLNet.MoE.Tests.Pipeline.PipelineTestData.Verses(20));
        var options = MLNet.MoE.Tests.Pipeline.PipelineTestData.Options(steps: 1);
        options.Tokenizer = MLNet.MoE.MoeTokenizer.Gpt2();
        var error = Assert.Throws<ArgumentException>(() => MLNet.MoE.Tests.Pipeline.PipelineTestData.Train(ml, data, options));
        Assert.Contains("LanguageModelOptions.Tokenizer", error.Message, StringComparison.Ordinal);
        Assert.Contains("'Tokens'", error.Message, StringComparison.Ordinal);
    }

    private static IEnumerable<Exception> Chain(Exception error)
    {
        for (Exception? e = error; e != null; e = e.InnerException) yield return e;
    }
}
