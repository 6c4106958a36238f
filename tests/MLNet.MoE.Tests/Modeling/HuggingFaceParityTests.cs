using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>The model against Hugging Face transformers' DeepseekV3ForCausalLM on the reference fixture.</summary>
public class HuggingFaceParityTests
{
    private static string FixtureDirectory => TestPaths.HuggingFaceFixture;

    private static JsonElement Expected()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureDirectory, "expected.json")));
        return document.RootElement.Clone();
    }

    [Fact]
    public void LogitsMatchTheReferenceWithinOneTenThousandth()
    {
        var expected = Expected();
        long[][] inputIds = expected.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        float[] reference = expected.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        long[] shape = expected.GetProperty("logits_shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        using var model = HuggingFaceCheckpoint.Load(FixtureDirectory);
        model.eval();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var ids = torch.tensor(inputIds.SelectMany(r => r).ToArray(), new long[] { inputIds.Length, inputIds[0].Length });
        var logits = model.Forward(ids, new ForwardContext());
        Assert.Equal(shape, logits.shape);
        float[] ours = logits.contiguous().data<float>().ToArray();
        double maxDifference = ours.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDifference < 1e-4, $"max |ours - reference| = {maxDifference:E3}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GreedyGenerationMatchesTheReference(bool useCache)
    {
        var expected = Expected();
        int[] prompt = expected.GetProperty("greedy_prompt").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        int[] continuation = expected.GetProperty("greedy_continuation").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        using var model = HuggingFaceCheckpoint.Load(FixtureDirectory);
        int[] generated = TokenGenerator.Generate(model, prompt, continuation.Length, new TokenSampler(0, 0, 1, 1), useCache: useCache);
        Assert.Equal(continuation, generated);
    }

    [Fact]
    public void ExportWritesExactlyTheReferenceFileKeysAndShapes()
    {
        using var model = HuggingFaceCheckpoint.Load(FixtureDirectory);
        string directory = TestPaths.NewTempDirectory();
        HuggingFaceCheckpoint.Save(model, directory);
        using var reference = SafeTensorsFile.Open(Path.Combine(FixtureDirectory, "model.safetensors"));
        using var exported = SafeTensorsFile.Open(Path.Combine(directory, "model.safetensors"));
        // The fixture's config asks for one MTP layer, which Hugging Face neither builds nor saves; ours adds those keys.
        int mtpLayer = model.Config.NumHiddenLayers;
        var ours = exported.Tensors.Where(t => !t.Key.StartsWith($"model.layers.{mtpLayer}.", StringComparison.Ordinal))
            .ToDictionary(t => t.Key, t => t.Value.Shape);
        var theirs = reference.Tensors.ToDictionary(t => t.Key, t => t.Value.Shape);
        Assert.Equal(theirs.Keys.Order(), ours.Keys.Order());
        foreach (var (name, shape) in theirs) Assert.Equal(shape, ours[name]);
    }

    [Fact]
    public void ExportThenImportIsBitIdentical()
    {
        using var model = HuggingFaceCheckpoint.Load(FixtureDirectory);
        string directory = TestPaths.NewTempDirectory();
        HuggingFaceCheckpoint.Save(model, directory);
        using var reloaded = HuggingFaceCheckpoint.Load(directory);
        var a = model.state_dict();
        var b = reloaded.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, tensor) in a)
        {
            Assert.True(TensorAssert.Same(tensor, b[name]), $"tensor '{name}' changed in the round trip");
        }
    }
}
