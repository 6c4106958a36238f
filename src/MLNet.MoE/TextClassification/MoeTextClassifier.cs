using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// A text classifier over a <see cref="MoeCausalLM"/> backbone: the backbone's final-normed hidden states, pooled over
/// each sequence's real tokens (<see cref="TextPooling"/>), optionally a dense tanh layer (<see cref="HeadHiddenSize"/>,
/// as BERT's pooler), dropout, and a linear head to one logit per class.
/// Sequences in a batch are right-padded; with causal attention a real token never attends to a later (padding) one,
/// and at inference the routed experts drop no token, so padding does not change a row's logits.
/// With <see cref="NgramBuckets"/> above 0 a wide branch adds to the logits a linear model of the row's hashed word and
/// character n-grams (<see cref="TextClassificationNgrams"/>): one weight per bucket and class, summed over the row's
/// n-gram occurrences each weighted 1/√(occurrences), trained jointly with the rest (a linear bag of n-grams beside the
/// Mixture-of-Experts representation, as wide-and-deep models do).
/// Parameter names: <c>backbone.*</c> (Hugging Face names under it), <c>head_hidden.weight</c>, <c>head_hidden.bias</c>
/// (with a hidden layer), <c>head.weight</c>, <c>head.bias</c> and <c>wide.weight</c> [buckets, classes] (with a wide branch).
/// </summary>
internal sealed class MoeTextClassifier : nn.Module
{
    private readonly MoeCausalLM backbone;
    private readonly Linear head;
    private readonly Linear? headHidden;
    private readonly Embedding? wide;
    // Dropout masks come from the classifier's own CPU generator (seeded with the model): training is reproducible on any
    // device and a checkpoint can save and restore the generator, which nn.Dropout's global generator does not allow.
    private readonly Generator dropoutGenerator;

    /// <summary>
    /// The names and shapes of the state dict of a classifier on a backbone of <paramref name="config"/>, without building
    /// it: the backbone's tensors under <c>backbone.</c>, then the optional hidden layer and the head.
    /// </summary>
    internal static List<(string Name, long[] Shape)> TensorLayout(MoeModelConfig config, int classCount, int headHiddenSize, int ngramBuckets = 0)
    {
        var layout = ModelTensorLayout.Of(config).Select(t => ("backbone." + t.Name, t.Shape)).ToList();
        long h = config.HiddenSize;
        if (headHiddenSize > 0)
        {
            layout.Add(("head_hidden.weight", new[] { (long)headHiddenSize, h }));
            layout.Add(("head_hidden.bias", new[] { (long)headHiddenSize }));
        }
        layout.Add(("head.weight", new[] { (long)classCount, headHiddenSize > 0 ? headHiddenSize : h }));
        layout.Add(("head.bias", new[] { (long)classCount }));
        if (ngramBuckets > 0) layout.Add(("wide.weight", new[] { (long)ngramBuckets, classCount }));
        return layout;
    }

    /// <summary>
    /// Creates a classifier with a fresh head (N(0, initializer_range) weights, zero biases) on <paramref name="backbone"/>,
    /// which it then owns; <paramref name="headHiddenSize"/> &gt; 0 adds a dense tanh layer of that width before the head;
    /// <paramref name="ngramBuckets"/> &gt; 0 adds the wide branch of hashed n-grams (weights zero: it starts as no branch).
    /// </summary>
    public MoeTextClassifier(MoeCausalLM backbone, int classCount, TextPooling pooling, double dropoutRate = 0.0, long seed = 1, int headHiddenSize = 0, int ngramBuckets = 0) : base(nameof(MoeTextClassifier))
    {
        if (ngramBuckets < 0) throw new ArgumentOutOfRangeException(nameof(ngramBuckets), ngramBuckets, "The number of n-gram buckets must be 0 (none) or positive.");
        ArgumentNullException.ThrowIfNull(backbone);
        if (classCount < 2) throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "A classifier needs at least two classes.");
        if (dropoutRate < 0 || dropoutRate >= 1) throw new ArgumentOutOfRangeException(nameof(dropoutRate), dropoutRate, "The dropout rate must be in [0, 1).");
        if (headHiddenSize < 0) throw new ArgumentOutOfRangeException(nameof(headHiddenSize), headHiddenSize, "The head's hidden size must be 0 (none) or positive.");
        this.backbone = backbone;
        ClassCount = classCount;
        Pooling = pooling;
        DropoutRate = dropoutRate;
        HeadHiddenSize = headHiddenSize;
        NgramBuckets = ngramBuckets;
        if (headHiddenSize > 0) headHidden = nn.Linear(backbone.Config.HiddenSize, headHiddenSize, hasBias: true);
        head = nn.Linear(headHiddenSize > 0 ? headHiddenSize : backbone.Config.HiddenSize, classCount, hasBias: true);
        dropoutGenerator = new Generator((ulong)seed + 1);
        register_module("backbone", backbone);
        if (headHidden != null) register_module("head_hidden", headHidden);
        register_module("head", head);
        if (ngramBuckets > 0)
        {
            wide = nn.Embedding(ngramBuckets, classCount);
            using (torch.no_grad()) wide.weight!.zero_();
            wide.to(backbone.Device);
            register_module("wide", wide);
        }
        using (torch.no_grad())
        {
            using var generator = new Generator((ulong)seed);
            head.weight!.normal_(0, backbone.Config.InitializerRange, generator);
            head.bias!.zero_();
            if (headHidden != null)
            {
                headHidden.weight!.normal_(0, backbone.Config.InitializerRange, generator);
                headHidden.bias!.zero_();
            }
        }
        head.to(backbone.Device);
        headHidden?.to(backbone.Device);
    }

    /// <summary>The backbone language model.</summary>
    public MoeCausalLM Backbone => backbone;

    /// <summary>LoRA adapters on the frozen backbone while the classifier trains with them, else null.</summary>
    public LoraAdapters? Adapters { get; private set; }

    /// <summary>
    /// Freezes the backbone and trains <paramref name="adapters"/> (made for it) in its place: the optimizer then sees
    /// the adapters and the head, and every pass adds the adapters.
    /// </summary>
    public void AttachAdapters(LoraAdapters adapters)
    {
        foreach (var parameter in backbone.parameters()) parameter.requires_grad_(false);
        Adapters = adapters;
    }

    /// <summary>Merges the adapters into the backbone's weights, frees them and makes the backbone trainable again: a plain classifier.</summary>
    public void MergeAdapters()
    {
        if (Adapters is not { } adapters) return;
        adapters.MergeInto(backbone);
        adapters.Dispose();
        Adapters = null;
        foreach (var parameter in backbone.parameters()) parameter.requires_grad_(true);
    }

    /// <summary>What training snapshots and checkpoints: the classifier's state plus, while attached, the adapters' factors and trained copies (named <c>lora.{name}</c>).</summary>
    public Dictionary<string, Tensor> TrainingState()
    {
        var state = new Dictionary<string, Tensor>(state_dict(), StringComparer.Ordinal);
        if (Adapters != null)
            foreach (var (name, factor) in Adapters.NamedFactors()) state.Add("lora." + name, factor);
        return state;
    }

    /// <summary>Number of classes (logits per row).</summary>
    public int ClassCount { get; }

    /// <summary>How hidden states are pooled.</summary>
    public TextPooling Pooling { get; }

    /// <summary>Width of the dense tanh layer before the head; 0 when the head is linear on the pooled features.</summary>
    public int HeadHiddenSize { get; }

    /// <summary>Buckets of the wide branch's hashed n-grams; 0 when the classifier has none.</summary>
    public int NgramBuckets { get; }

    /// <summary>Dropout applied to the pooled features while training.</summary>
    public double DropoutRate { get; }

    /// <summary>The device of the parameters.</summary>
    public Device Device => head.weight!.device;

    /// <summary>
    /// Logits [B, C] for right-padded ids [B, T] whose real lengths are <paramref name="lengths"/> [B] (int64, each 1..T).
    /// Positions at or after a row's length are ignored. In training, also the backbone's routing.
    /// </summary>
    public (Tensor Logits, RoutingStatistics Routing) Forward(Tensor ids, Tensor lengths, ForwardContext context) => Forward(ids, lengths, null, context);

    /// <summary>
    /// Logits [B, C] as <see cref="Forward(Tensor, Tensor, ForwardContext)"/>, plus the wide branch's of
    /// <paramref name="ngrams"/> (required when the classifier has the branch, ignored otherwise).
    /// </summary>
    public (Tensor Logits, RoutingStatistics Routing) Forward(Tensor ids, Tensor lengths, NgramBatch? ngrams, ForwardContext context)
    {
        using var scope = torch.NewDisposeScope();
        var (hidden, routing) = backbone.HiddenStates(ids, context);
        var features = Pool(hidden, lengths);
        if (headHidden != null) features = headHidden.forward(features).tanh();
        var logits = head.forward(Dropout(features));
        if (wide is not null)
        {
            if (ngrams is not { } bag) throw new ArgumentNullException(nameof(ngrams), "This classifier has a wide branch: its n-grams are needed.");
            // Σ over a row's occurrences of weight × the bucket's per-class weights: gathered rows added into their row.
            var contributions = wide.weight!.index_select(0, bag.Buckets) * bag.Weights.unsqueeze(1);
            logits = logits + torch.zeros_like(logits).index_add(0, bag.Rows, contributions, 1.0);
        }
        return (logits.MoveToOuterDisposeScope(), routing.MoveToOuterDisposeScope());
    }

    /// <summary>The state of the dropout generator (a CPU byte tensor), for training checkpoints.</summary>
    public Tensor DropoutGeneratorState
    {
        get => dropoutGenerator.get_state();
        set => dropoutGenerator.set_state(value);
    }

    private Tensor Dropout(Tensor pooled)
    {
        if (!training || DropoutRate == 0) return pooled;
        var keep = torch.rand(pooled.shape, generator: dropoutGenerator) >= DropoutRate;
        return pooled * keep.to(pooled.dtype).to(pooled.device) / (1.0 - DropoutRate);
    }

    /// <summary>Pools hidden states [B, T, H] over each row's first <paramref name="lengths"/> positions into [B, H].</summary>
    public Tensor Pool(Tensor hidden, Tensor lengths)
    {
        using var scope = torch.NewDisposeScope();
        long t = hidden.shape[1];
        Tensor pooled;
        if (Pooling == TextPooling.LastToken)
        {
            var index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, hidden.shape[2]);
            pooled = hidden.gather(1, index).squeeze(1);
        }
        else
        {
            var positions = torch.arange(t, dtype: ScalarType.Int64, device: hidden.device).unsqueeze(0);
            var mask = (positions < lengths.unsqueeze(1)).to(hidden.dtype).unsqueeze(2);
            pooled = (hidden * mask).sum(1) / lengths.to(hidden.dtype).unsqueeze(1);
        }
        return pooled.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The parameters training updates, split into those that take weight decay (matrices, embeddings) and those that do
    /// not (norm scales, biases). The backbone's output head and multi-token-prediction modules are left out: the classifier does not use them.
    /// </summary>
    public (List<Parameter> Decay, List<Parameter> NoDecay) ParameterGroupsForWeightDecay()
    {
        var unused = new HashSet<string>(StringComparer.Ordinal);
        if (!backbone.Config.TieWordEmbeddings) unused.Add("backbone.lm_head.");
        for (int k = 0; k < backbone.Config.NumNextnPredictLayers; k++) unused.Add($"backbone.model.layers.{backbone.Config.NumHiddenLayers + k}.");
        return MoeCausalLM.SplitForWeightDecay(named_parameters().Where(p => !unused.Any(prefix => p.name.StartsWith(prefix, StringComparison.Ordinal))));
    }

    /// <summary>
    /// The optimizer's groups: backbone and head, each split by weight decay (none on norms and biases); the backbone's
    /// learning rate is scaled by <paramref name="backboneLearningRateScale"/>; the wide branch's weights, when there are
    /// any, form a group of their own at <paramref name="ngramLearningRateScale"/> times the rate, with weight decay.
    /// </summary>
    public IReadOnlyList<OptimizerGroup> OptimizerGroups(double weightDecay, double backboneLearningRateScale, double ngramLearningRateScale = 1.0)
    {
        var (decay, noDecay) = ParameterGroupsForWeightDecay();
        // A frozen backbone (LoRA) trains nothing: its weights stay out of the optimizer, the adapters go in.
        decay = decay.Where(p => p.requires_grad).ToList();
        noDecay = noDecay.Where(p => p.requires_grad).ToList();
        var backboneParameters = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var parameter in backbone.parameters()) backboneParameters.Add(parameter);
        bool InBackbone(Parameter p) => backboneParameters.Contains(p);
        bool InHead(Parameter p) => !InBackbone(p) && !ReferenceEquals(p, wide?.weight);
        var groups = OptimizerGroup.ForWeightDecay(decay.Where(InBackbone).ToList(), noDecay.Where(InBackbone).ToList(), weightDecay, backboneLearningRateScale)
            .Concat(OptimizerGroup.ForWeightDecay(decay.Where(InHead).ToList(), noDecay.Where(InHead).ToList(), weightDecay))
            .Concat(Adapters?.ParameterGroupsForWeightDecay() is { } adapterSplit ? OptimizerGroup.ForWeightDecay(adapterSplit.Decay, adapterSplit.NoDecay, weightDecay) : Array.Empty<OptimizerGroup>())
            .ToList();
        if (wide?.weight is { } wideWeight) groups.Add(new OptimizerGroup(new[] { wideWeight }, weightDecay, ngramLearningRateScale));
        return groups;
    }

    /// <summary>Submodules are registered explicitly in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            dropoutGenerator.Dispose();
            Adapters?.Dispose();
        }
        base.Dispose(disposing);
    }
}
