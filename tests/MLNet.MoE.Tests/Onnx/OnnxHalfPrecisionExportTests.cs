using MLNet.MoE.Tests.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>Exports with float16 or bfloat16 weights: half the file, float32 arithmetic on the rounded weights.</summary>
public class OnnxHalfPrecisionExportTests
{
    private static MoeModelConfig Config => PipelineTestData.SmallConfig with { InitializerRange = 0.2, VocabSize = 96, NumNextnPredictLayers = 0 };

    public static TheoryData<OnnxWeightType, OnnxExpertKernel> Cases => new()
    {
        { OnnxWeightType.Float16, OnnxExpertKernel.MoeOperator },
        { OnnxWeightType.BFloat16, OnnxExpertKernel.MoeOperator },
        { OnnxWeightType.Float16, OnnxExpertKernel.StandardOperators },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsEqualTorchSharpsOnTheSameRoundedWeightsAndTheFileIsAboutHalf(OnnxWeightType weights, OnnxExpertKernel experts)
    {
        using var model = new MoeCausalLM(Config, seed: 7);
        model.eval();
        var random = new Random(5);
        long[] ids = Enumerable.Range(0, 2 * 9).Select(_ => (long)random.Next(Config.VocabSize)).ToArray();
        string full = OnnxExportParityTests.Export(model, new OnnxExportOptions { Experts = experts });
        string half = OnnxExportParityTests.Export(model, new OnnxExportOptions { Weights = weights, Experts = experts });

        float[] original = OnnxExportParityTests.TorchLogits(model, ids, 2);
        RoundMatrices(model, weights == OnnxWeightType.Float16 ? ScalarType.Float16 : ScalarType.BFloat16);
        float[] rounded = OnnxExportParityTests.TorchLogits(model, ids, 2);
        using var session = new OnnxDecoderSession(half);
        session.Reset(2);
        var (onnx, _) = session.Run(ids, 9);

        Assert.True(OnnxExportParityTests.MaxDifference(rounded, onnx) < 1e-4, "ONNX logits differ from TorchSharp's on the same rounded weights");
        Assert.True(OnnxExportParityTests.MaxDifference(original, onnx) > 1e-4, "the weights were not rounded");
        double ratio = new FileInfo(half).Length / (double)new FileInfo(full).Length;
        Assert.InRange(ratio, 0.45, 0.6);
    }

    /// <summary>Rounds what the export stores in half precision: every matrix but the router's.</summary>
    private static void RoundMatrices(MoeCausalLM model, ScalarType type)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (parameter.dim() < 2 || name.EndsWith(".gate.weight", StringComparison.Ordinal)) continue;
            parameter.copy_(parameter.to(type).to(ScalarType.Float32));
        }
    }
}
