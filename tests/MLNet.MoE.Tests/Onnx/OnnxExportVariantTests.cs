using Microsoft.ML;
using MLNet.MoE.Tests.Pipeline;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>Export parity over the architecture's options, and on a model trained by the project's own trainer.</summary>
public class OnnxExportVariantTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    private static MoeModelConfig Base => PipelineTestData.SmallConfig with { InitializerRange = 0.2, VocabSize = 96, NumNextnPredictLayers = 0 };

    public static TheoryData<string> Variants => new() { "v3-groups", "v2-softmax-plain-q-bias", "yarn-not-interleaved-wide-values", "greedy-no-nope-no-shared" };

    private static MoeModelConfig Variant(string name) => name switch
    {
        // Four groups, two kept: the group mask matters.
        "v3-groups" => Base with { NRoutedExperts = 8, NGroup = 4, TopkGroup = 2, NumExpertsPerTok = 3, RoutedScalingFactor = 2.5 },
        "v2-softmax-plain-q-bias" => Base with { ScoringFunc = "softmax", TopkMethod = "group_limited_greedy", NGroup = 2, TopkGroup = 1, QLoraRank = null, AttentionBias = true, NormTopkProb = false },
        // v_head_dim > qk_head_dim: the keys and queries are padded instead of the values.
        "yarn-not-interleaved-wide-values" => Base with
        {
            RopeInterleave = false, VHeadDim = 24, MaxPositionEmbeddings = 128,
            RopeScaling = new RopeScaling { Factor = 4, OriginalMaxPositionEmbeddings = 32, MScale = 1, MScaleAllDim = 1 },
        },
        "greedy-no-nope-no-shared" => Base with { ScoringFunc = "softmax", TopkMethod = "greedy", QkNopeHeadDim = 0, NSharedExperts = 0, FirstKDenseReplace = 0 },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static MoeCausalLM RandomModel(MoeModelConfig config)
    {
        var model = new MoeCausalLM(config, seed: 7);
        using var noGrad = torch.no_grad();
        var generator = new Generator(11);
        foreach (var (_, moe) in model.MoeLayers()) moe.Router.CorrectionBias.copy_(torch.rand(config.NRoutedExperts, generator: generator) * 0.1 - 0.05);
        model.eval();
        return model;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void ConfigVariantsMatchTorchSharpForFullSequencesAndCachedDecoding(string variant)
    {
        var config = Variant(variant);
        using var model = RandomModel(config);
        var random = new Random(5);
        long[] ids = Enumerable.Range(0, 2 * 9).Select(_ => (long)random.Next(config.VocabSize)).ToArray();
        string path = OnnxExportParityTests.Export(model);

        using var onnx = new OnnxDecoderSession(path);
        onnx.Reset(2);
        var (full, _) = onnx.Run(ids, 9);
        double fullDifference = OnnxExportParityTests.MaxDifference(OnnxExportParityTests.TorchLogits(model, ids, 2), full);

        onnx.Reset(1);
        using var cache = new KeyValueCache(config.NumHiddenLayers);
        var (prefill, _) = onnx.Run(ids[..4], 4);
        double cachedDifference = OnnxExportParityTests.MaxDifference(OnnxExportParityTests.TorchLogits(model, ids[..4], 1, cache), prefill);
        for (int t = 4; t < 9; t++)
        {
            var (step, _) = onnx.Run(new[] { ids[t] }, 1);
            cachedDifference = Math.Max(cachedDifference, OnnxExportParityTests.MaxDifference(OnnxExportParityTests.TorchLogits(model, new[] { ids[t] }, 1, cache), step));
        }
        output.WriteLine($"{variant}: full {fullDifference:E3}, prefill + 5 decode steps {cachedDifference:E3}");
        Assert.True(fullDifference < Tolerance, $"full sequence: max |onnx - torch| = {fullDifference:E3}");
        Assert.True(cachedDifference < Tolerance, $"cached decoding: max |onnx - torch| = {cachedDifference:E3}");
    }

    [Fact]
    public void TrainedModelMatchesTorchSharpAndGeneratesTheSameGreedyTokens()
    {
        var trained = TrainedModel.Instance;
        var model = trained.Transformer.Model;
        var tokenizer = trained.Transformer.Tokenizer;
        int[] prompt = new[] { tokenizer.EndOfTextId }.Concat(tokenizer.Encode("In the beginning God")).ToArray();
        long[] ids = prompt.Select(t => (long)t).ToArray();
        var (logits, _) = RunFull(trained.ModelPath, ids);
        double difference = OnnxExportParityTests.MaxDifference(OnnxExportParityTests.TorchLogits(model, ids, 1), logits);
        output.WriteLine($"trained model: max |onnx - torch| = {difference:E3}");
        Assert.True(difference < Tolerance, $"max |onnx - torch| = {difference:E3}");

        int[] ours = TokenGenerator.Generate(model, prompt, 20, new TokenSampler(0, 0, 1, 1));
        int[] onnx = OnnxGreedy.Generate(trained.ModelPath, prompt, 20);
        Assert.Equal(ours, onnx);
    }

    [Fact]
    public void FixtureGreedyGenerationIsIdentical()
    {
        using var model = MLNet.MoE.HuggingFaceCheckpoint.Load(TestPaths.HuggingFaceFixture);
        int[] prompt = { 0, 17, 42, 99, 3 };
        int[] ours = TokenGenerator.Generate(model, prompt, 12, new TokenSampler(0, 0, 1, 1));
        int[] onnx = OnnxGreedy.Generate(OnnxExportParityTests.Export(model), prompt, 12);
        Assert.Equal(ours, onnx);
    }

    private static (float[] Logits, int Vocab) RunFull(string path, long[] ids)
    {
        using var session = new OnnxDecoderSession(path);
        return session.Run(ids, ids.Length);
    }
}
