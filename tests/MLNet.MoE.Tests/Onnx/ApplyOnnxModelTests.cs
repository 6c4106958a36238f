using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>ML.NET's own ApplyOnnxModel on the exported graph, as docs/onnx.md describes it.</summary>
public class ApplyOnnxModelTests
{
    /// <summary>One row for the 2-layer test model: ids, mask and positions of one sequence and empty caches.</summary>
    private sealed class DecoderInput
    {
        [ColumnName("input_ids"), VectorType]
        public long[] InputIds { get; set; } = Array.Empty<long>();

        [ColumnName("attention_mask"), VectorType]
        public long[] AttentionMask { get; set; } = Array.Empty<long>();

        [ColumnName("position_ids"), VectorType]
        public long[] PositionIds { get; set; } = Array.Empty<long>();

        [ColumnName("past_key_values.0.key"), VectorType]
        public float[] PastKey0 { get; set; } = Array.Empty<float>();

        [ColumnName("past_key_values.0.value"), VectorType]
        public float[] PastValue0 { get; set; } = Array.Empty<float>();

        [ColumnName("past_key_values.1.key"), VectorType]
        public float[] PastKey1 { get; set; } = Array.Empty<float>();

        [ColumnName("past_key_values.1.value"), VectorType]
        public float[] PastValue1 { get; set; } = Array.Empty<float>();
    }

    private sealed class DecoderOutput
    {
        [ColumnName("logits")]
        public float[] Logits { get; set; } = Array.Empty<float>();
    }

    [Fact]
    public void ApplyOnnxModelScoresTheExportLikeTorchSharp()
    {
        var trained = TrainedModel.Instance;
        var config = trained.Transformer.Model.Config;
        Assert.Equal(2, config.NumHiddenLayers);
        var ml = new MLContext(seed: 1);
        long[][] sequences = { new long[] { 0, 72, 101, 108 }, new long[] { 0, 65, 110, 100, 32, 71, 111 } };
        var rows = sequences.Select(ids => new DecoderInput
        {
            InputIds = ids,
            AttentionMask = ids.Select(_ => 1L).ToArray(),
            PositionIds = Enumerable.Range(0, ids.Length).Select(p => (long)p).ToArray(),
        }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        int heads = config.NumAttentionHeads;
        int cacheHead = Math.Max(config.QkHeadDim, config.VHeadDim);
        // Caches are empty: fix their shapes to [1, heads, 0, head size]; ML.NET infers the sequence lengths of the others.
        var shapes = new Dictionary<string, int[]>();
        for (int i = 0; i < 2; i++)
        {
            shapes[$"past_key_values.{i}.key"] = new[] { 1, heads, 0, cacheHead };
            shapes[$"past_key_values.{i}.value"] = new[] { 1, heads, 0, cacheHead };
        }
        var inputs = new[] { "input_ids", "attention_mask", "position_ids", "past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value" };
        var pipeline = ml.Transforms.ApplyOnnxModel(new[] { "logits" }, inputs, trained.ModelPath, shapes, gpuDeviceId: null, fallbackToCpu: false);
        var scored = ml.Data.CreateEnumerable<DecoderOutput>(pipeline.Fit(data).Transform(data), reuseRowObject: false).ToList();
        for (int r = 0; r < sequences.Length; r++)
        {
            float[] expected = OnnxExportParityTests.TorchLogits(trained.Transformer.Model, sequences[r], 1);
            Assert.Equal(sequences[r].Length * config.VocabSize, scored[r].Logits.Length);
            Assert.True(OnnxExportParityTests.MaxDifference(expected, scored[r].Logits) < 1e-4);
        }
    }
}
