using System.IO.Compression;
using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Tests.Onnx;
using MLNet.MoE.Tests.Tokenization;
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

    /// <summary>
    /// A tokenizer of the byte-level model's size whose ids mean other bytes (byte b is id 255 − b): every id it makes is
    /// in the language model's vocabulary, so only a comparison of the tokenizers tells its ids from the model's.
    /// </summary>
    internal static MoeTokenizer ScrambledByteTokenizer() => MoeTokenizer.FromHuggingFaceJson(TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory(), document =>
    {
        var model = (Dictionary<string, object?>)document["model"]!;
        model["vocab"] = TokenizerTestData.ByteSymbolVocabulary().ToDictionary(p => p.Key, p => 255 - p.Value);
        model["merges"] = Array.Empty<string>();
        document["added_tokens"] = new[] { new Dictionary<string, object> { ["id"] = 256, ["content"] = "</s>", ["special"] = true } };
    }));

    /// <summary>"TokenizeForMoe's saved tokenizer replaced by another loads: the pipeline's tokenizer and the model's are never
    /// compared at load (perplexity 14 → 3,266)".</summary>
    [Fact]
    public void APipelineTokenizerReplacedInTheZipIsRefusedWhenTheModelReadsItsColumn()
    {
        var ml = new MLContext(seed: 1);
        var data = TrainedModel.Instance.Data;
        string path = Path.Combine(TestPaths.NewTempDirectory(), "model.zip");
        var tokenize = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Fit(data);
        ml.Model.Save(new TransformerChain<ITransformer>(tokenize, TrainedModel.Instance.Transformer), data.Schema, path);
        var other = ScrambledByteTokenizer();
        Assert.Equal(TrainedModel.Instance.Transformer.Tokenizer.VocabularySize, other.VocabularySize);
        byte[] state = other.Serialize();
        // The tokenizing transform's entry: the Tokenizer.bin without weights beside it.
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            string weights = zip.Entries.Single(e => e.FullName.EndsWith("/Weights.bin", StringComparison.Ordinal)).FullName;
            string modelFolder = weights[..weights.LastIndexOf('/')];
            ZipEntries.Rewrite(zip, e => e.FullName.EndsWith("/Tokenizer.bin", StringComparison.Ordinal) && !e.FullName.StartsWith(modelFolder + "/", StringComparison.Ordinal),
                _ => [.. BitConverter.GetBytes(state.Length), .. state]);
        }
        var loaded = ml.Model.Load(path, out _);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => loaded.Transform(data));
        Assert.Contains("'Tokens'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{other.Name}'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{TrainedModel.Instance.Transformer.Tokenizer.Name}'", error.Message, StringComparison.Ordinal);
        foreach (var t in (IEnumerable<ITransformer>)loaded) (t as IDisposable)?.Dispose();
    }

    [Fact]
    public void ATokenColumnMadeByAnotherTokenizerIsRefusedByTheLanguageModel()
    {
        var ml = new MLContext(seed: 1);
        var data = TrainedModel.Instance.Data;
        var model = TrainedModel.Instance.Transformer;
        var ownTokens = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Fit(data).Transform(data);
        // The column of the model's own tokenizer is scored.
        string firstText = data.GetColumn<string>("Text").First();
        Assert.Equal(model.Tokenizer.Encode(firstText).Length, model.Transform(ownTokens).GetColumn<float>("TokenCount").First());
        var otherTokens = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", ScrambledByteTokenizer()).Fit(data).Transform(data);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => model.Transform(otherTokens));
        Assert.Contains("'Tokens'", error.Message, StringComparison.Ordinal);
        Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
    }

    private static IEnumerable<Exception> Chain(Exception error)
    {
        for (Exception? e = error; e != null; e = e.InnerException) yield return e;
    }
}
