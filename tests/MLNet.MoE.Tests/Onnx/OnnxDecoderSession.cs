using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>Runs an exported decoder with ONNX Runtime directly, keeping the present keys/values as the next step's past.</summary>
internal sealed class OnnxDecoderSession : IDisposable
{
    private readonly InferenceSession session;
    private readonly int layers;
    private readonly int heads;
    private readonly int headSize;
    private DenseTensor<float>[] pastKeys;
    private DenseTensor<float>[] pastValues;
    private int batch;

    public OnnxDecoderSession(string modelPath)
    {
        session = new InferenceSession(modelPath);
        layers = session.InputMetadata.Keys.Count(k => k.StartsWith("past_key_values.", StringComparison.Ordinal) && k.EndsWith(".key", StringComparison.Ordinal));
        var keyShape = session.InputMetadata["past_key_values.0.key"].Dimensions;
        heads = keyShape[1];
        headSize = keyShape[3];
        pastKeys = pastValues = Array.Empty<DenseTensor<float>>();
        Reset(1);
    }

    /// <summary>Tokens cached so far.</summary>
    public int PastLength => pastKeys[0].Dimensions[2];

    /// <summary>The present keys of the last run, per layer [B, heads, T, head size].</summary>
    public IReadOnlyList<DenseTensor<float>> Keys => pastKeys;

    /// <summary>Empties the cache for a batch of <paramref name="batchSize"/> rows.</summary>
    public void Reset(int batchSize)
    {
        batch = batchSize;
        pastKeys = Enumerable.Range(0, layers).Select(_ => new DenseTensor<float>(new[] { batchSize, heads, 0, headSize })).ToArray();
        pastValues = Enumerable.Range(0, layers).Select(_ => new DenseTensor<float>(new[] { batchSize, heads, 0, headSize })).ToArray();
    }

    /// <summary>Feeds ids [B, S] after the cache; returns logits [B, S, V] flattened and their vocabulary width.</summary>
    public (float[] Logits, int Vocab) Run(long[] ids, int sequence)
    {
        int past = PastLength;
        int total = past + sequence;
        var mask = new DenseTensor<long>(Enumerable.Repeat(1L, batch * total).ToArray(), new[] { batch, total });
        var positions = new DenseTensor<long>(Enumerable.Range(0, batch).SelectMany(_ => Enumerable.Range(past, sequence).Select(p => (long)p)).ToArray(), new[] { batch, sequence });
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, new[] { batch, sequence })),
            NamedOnnxValue.CreateFromTensor("attention_mask", mask),
            NamedOnnxValue.CreateFromTensor("position_ids", positions),
        };
        for (int i = 0; i < layers; i++)
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor($"past_key_values.{i}.key", pastKeys[i]));
            inputs.Add(NamedOnnxValue.CreateFromTensor($"past_key_values.{i}.value", pastValues[i]));
        }
        using var results = session.Run(inputs);
        var byName = results.ToDictionary(r => r.Name);
        var logits = byName["logits"].AsTensor<float>();
        for (int i = 0; i < layers; i++)
        {
            pastKeys[i] = Copy(byName[$"present.{i}.key"].AsTensor<float>());
            pastValues[i] = Copy(byName[$"present.{i}.value"].AsTensor<float>());
        }
        return (logits.ToArray(), logits.Dimensions[2]);
    }

    private static DenseTensor<float> Copy(Tensor<float> t) => new(t.ToArray(), t.Dimensions.ToArray());

    public void Dispose() => session.Dispose();
}
