using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Step-by-step decoding of one sequence with a <see cref="MoeCausalLM"/>: the keys and values of the tokens fed so far
/// stay in a <see cref="KeyValueCache"/> on the model's device; each step runs inside its own dispose scope.
/// </summary>
internal sealed class TorchDecodingSession : IDecodingSession
{
    private readonly MoeCausalLM model;
    private readonly EvaluationMode evaluation;
    private readonly KeyValueCache? cache;

    // Without a cache, every token fed so far: each step recomputes the whole sequence.
    private readonly List<int>? fed;
    private readonly LoraAdapters? adapters;

    public TorchDecodingSession(MoeCausalLM model, bool useCache, LoraAdapters? adapters = null)
    {
        this.model = model;
        this.adapters = adapters;
        evaluation = new EvaluationMode(model);
        if (useCache) cache = new KeyValueCache(model.Config.NumHiddenLayers);
        else fed = new List<int>();
    }

    public float[] Feed(IReadOnlyList<int> tokens)
    {
        fed?.AddRange(tokens);
        IReadOnlyList<int> input = fed ?? tokens;
        using var scope = torch.NewDisposeScope();
        var ids = torch.tensor(input.Select(t => (long)t).ToArray(), new long[] { 1, input.Count }).to(model.Device);
        using var context = new ForwardContext { Cache = cache, ComputeType = ModelWeightTypes.InferenceComputeType(model.WeightType), Adapters = adapters };
        var logits = model.Forward(ids, context);
        return logits[0, -1].to(ScalarType.Float32).cpu().data<float>().ToArray();
    }

    public void Dispose()
    {
        cache?.Dispose();
        evaluation.Dispose();
    }
}
