using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>
/// Int8/int4 exports (MatMulNBits, QMoE) against a TorchSharp model whose matrices were replaced by the dequantized
/// values unpacked from the quantizer's bytes: checks the packing, the scales and the kernels' layout together.
/// </summary>
public class OnnxQuantizedExportTests(ITestOutputHelper output)
{
    private static float[] Dequantize(WeightQuantizer.Result q, long rows, long cols, int bits, int block)
    {
        var values = new float[rows * cols];
        int bytesPerBlock = block * bits / 8;
        for (long r = 0; r < rows; r++)
        {
            for (long c = 0; c < cols; c++)
            {
                long b = c / block;
                int i = (int)(c % block);
                byte packed = q.Packed[(r * q.BlocksPerRow + b) * bytesPerBlock + (bits == 8 ? i : i / 2)];
                int stored = bits == 8 ? packed : (i % 2 == 0 ? packed & 0xF : packed >> 4);
                values[r * cols + c] = (stored - (1 << (bits - 1))) * q.Scales[r * q.BlocksPerRow + b];
            }
        }
        return values;
    }

    private static void ReplaceByDequantized(Tensor t, int bits, int block)
    {
        long cols = t.shape[^1];
        long rows = t.numel() / cols;
        float[] data = t.contiguous().data<float>().ToArray();
        var q = WeightQuantizer.Quantize(data, rows, cols, bits, block);
        t.copy_(torch.tensor(Dequantize(q, rows, cols, bits, block)).reshape(t.shape));
    }

    [Theory]
    [InlineData(OnnxWeightType.Int8, 8, 16)]
    [InlineData(OnnxWeightType.Int4, 4, 16)]
    [InlineData(OnnxWeightType.Int8, 8, 32)]
    [InlineData(OnnxWeightType.Int4, 4, 32)]
    public void QuantizedExportMatchesTheDequantizedModel(OnnxWeightType weights, int bits, int block)
    {
        var config = MLNet.MoE.Tests.Pipeline.PipelineTestData.SmallConfig with { InitializerRange = 0.2, VocabSize = 96, NumNextnPredictLayers = 0 };
        using var model = new MoeCausalLM(config, seed: 9);
        model.eval();
        string path = OnnxExportParityTests.Export(model, new OnnxExportOptions { Weights = weights, BlockSize = block });
        using (torch.no_grad())
        {
            foreach (var (name, tensor) in model.state_dict())
            {
                bool matrix = tensor.dim() >= 2 && name != "model.embed_tokens.weight" && !name.EndsWith("mlp.gate.weight", StringComparison.Ordinal);
                if (!matrix) continue;
                // Experts get one scale per block (4 bits, inner widths of whole blocks), else one per row.
                bool expert = name.Contains(".experts.", StringComparison.Ordinal);
                bool wholeBlocks = bits == 4 && config.HiddenSize % block == 0 && config.MoeIntermediateSize % block == 0;
                ReplaceByDequantized(tensor, bits, expert && !wholeBlocks ? (int)tensor.shape[^1] : block);
            }
        }
        var random = new Random(3);
        long[] ids = Enumerable.Range(0, 12).Select(_ => (long)random.Next(config.VocabSize)).ToArray();
        using var onnx = new OnnxDecoderSession(path);
        var (logits, _) = onnx.Run(ids, ids.Length);
        double difference = OnnxExportParityTests.MaxDifference(OnnxExportParityTests.TorchLogits(model, ids, 1), logits);
        output.WriteLine($"{weights}: max |onnx - dequantized torch| = {difference:E3}");
        Assert.True(difference < 1e-4, $"max |onnx - dequantized torch| = {difference:E3}");
    }
}
