using System.Text.Json;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>ONNX Runtime on the exported graph against the TorchSharp model it came from.</summary>
public class OnnxExportParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    private static string FixtureDirectory => TestPaths.HuggingFaceFixture;

    private static long[][] FixtureIds()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureDirectory, "expected.json")));
        return document.RootElement.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
    }

    internal static string Export(MoeCausalLM model, OnnxExportOptions? options = null)
    {
        string directory = TestPaths.NewTempDirectory();
        OnnxExporter.Export(model, null, directory, options);
        return Path.Combine(directory, "model.onnx");
    }

    internal static float[] TorchLogits(MoeCausalLM model, long[] ids, int batch, KeyValueCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var logits = model.Forward(torch.tensor(ids, new long[] { batch, ids.Length / batch }), new ForwardContext { Cache = cache });
        return logits.contiguous().data<float>().ToArray();
    }

    internal static double MaxDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
    }

    [Theory]
    [InlineData(OnnxExpertKernel.MoeOperator)]
    [InlineData(OnnxExpertKernel.StandardOperators)]
    public void FixtureLogitsOfAFullSequenceMatchTorchSharp(OnnxExpertKernel experts)
    {
        using var model = HuggingFaceCheckpoint.Load(FixtureDirectory);
        model.eval();
        long[][] rows = FixtureIds();
        long[] ids = rows.SelectMany(r => r).ToArray();
        using var onnx = new OnnxDecoderSession(Export(model, new OnnxExportOptions { Experts = experts }));
        onnx.Reset(rows.Length);
        var (logits, _) = onnx.Run(ids, rows[0].Length);
        double difference = MaxDifference(TorchLogits(model, ids, rows.Length), logits);
        output.WriteLine($"{experts}: max |onnx - torch| = {difference:E3}");
        Assert.True(difference < Tolerance, $"max |onnx - torch| = {difference:E3}");
    }

    [Fact]
    public void FixturePrefillAndCachedDecodeStepsMatchTorchSharp()
    {
        using var model = HuggingFaceCheckpoint.Load(FixtureDirectory);
        model.eval();
        long[] row = FixtureIds()[0];
        using var onnx = new OnnxDecoderSession(Export(model));
        using var cache = new KeyValueCache(model.Config.NumHiddenLayers);
        double worst = 0;
        int prefill = 5;
        var (logits, _) = onnx.Run(row[..prefill], prefill);
        worst = Math.Max(worst, MaxDifference(TorchLogits(model, row[..prefill], 1, cache), logits));
        for (int t = prefill; t < row.Length; t++)
        {
            (logits, _) = onnx.Run(new[] { row[t] }, 1);
            worst = Math.Max(worst, MaxDifference(TorchLogits(model, new[] { row[t] }, 1, cache), logits));
        }
        output.WriteLine($"prefill {prefill} + {row.Length - prefill} decode steps: max |onnx - torch| = {worst:E3}");
        Assert.Equal(row.Length, onnx.PastLength);
        Assert.True(worst < Tolerance, $"max |onnx - torch| over prefill and {row.Length - prefill} decode steps = {worst:E3}");
    }
}
