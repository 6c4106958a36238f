using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The TorchSharp backend of <see cref="ILanguageModelRunner"/>: forward passes of a <see cref="MoeCausalLM"/> on its
/// device, with the cross-entropy and the most-likely check done there, so only one sum and one count per row come back
/// to the CPU. The model is put in evaluation mode for each pass and given back in the mode it was in, so training can
/// score its validation stream through it too.
/// </summary>
internal sealed class TorchLanguageModelRunner : ILanguageModelRunner
{
    private readonly bool ownsModel;
    private readonly bool ownsAdapters;

    /// <summary>
    /// Runs <paramref name="model"/> (disposed with the runner when <paramref name="ownsModel"/>), with the LoRA
    /// <paramref name="adapters"/> in every pass when given (disposed with the runner when <paramref name="ownsAdapters"/>).
    /// </summary>
    public TorchLanguageModelRunner(MoeCausalLM model, bool ownsModel, LoraAdapters? adapters = null, bool ownsAdapters = false)
    {
        Model = model;
        this.ownsModel = ownsModel;
        this.ownsAdapters = ownsAdapters;
        Adapters = adapters;
    }

    /// <summary>The LoRA adapters every pass adds to the model, or null.</summary>
    public LoraAdapters? Adapters { get; }

    private ForwardContext InferenceContext() => new() { ComputeType = ModelWeightTypes.InferenceComputeType(Model.WeightType), Adapters = Adapters };

    /// <summary>The model.</summary>
    public MoeCausalLM Model { get; }

    /// <summary>False to recompute the whole sequence at every generation step (slower, same tokens: checks the cache).</summary>
    public bool UseCache { get; init; } = true;

    /// <inheritdoc />
    public int VocabSize => Model.Config.VocabSize;

    /// <inheritdoc />
    public int MaxPositions => Model.Config.MaxPositionEmbeddings;

    /// <inheritdoc />
    public RowScores Score(ScoringBatch batch)
    {
        using var scope = torch.NewDisposeScope();
        using var evaluation = new EvaluationMode(Model);
        var device = Model.Device;
        var x = torch.tensor(batch.Inputs, new long[] { batch.Rows, batch.Length }).to(device);
        var y = torch.tensor(batch.Targets, new long[] { batch.Rows, batch.Length }).to(device);
        var valid = torch.arange(batch.Length, device: device).unsqueeze(0).lt(torch.tensor(batch.ValidLengths.Select(v => (long)v).ToArray(), device: device).unsqueeze(1));
        using var context = InferenceContext();
        var logits = Model.Forward(x, context);
        var perToken = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), y.reshape(-1), reduction: nn.Reduction.None).view(batch.Rows, batch.Length);
        var sums = perToken.masked_fill(valid.logical_not(), 0).to(ScalarType.Float64).sum(1).cpu().data<double>().ToArray();
        var hits = logits.argmax(-1).eq(y).logical_and(valid).sum(1, type: ScalarType.Int64).cpu().data<long>().ToArray();
        return new RowScores(sums, hits);
    }

    /// <inheritdoc />
    public float[] Logits(long[] ids, int rows, int length)
    {
        using var scope = torch.NewDisposeScope();
        using var evaluation = new EvaluationMode(Model);
        var x = torch.tensor(ids, new long[] { rows, length }).to(Model.Device);
        using var context = InferenceContext();
        return Model.Forward(x, context).to(ScalarType.Float32).cpu().data<float>().ToArray();
    }

    /// <inheritdoc />
    public IDecodingSession StartDecoding() => new TorchDecodingSession(Model, UseCache, Adapters);

    /// <summary>Frees the model when the runner owns it.</summary>
    public void Dispose()
    {
        if (ownsAdapters) Adapters?.Dispose();
        if (ownsModel) Model.Dispose();
    }
}
