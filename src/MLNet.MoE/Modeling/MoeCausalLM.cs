using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// A DeepSeek-V3-style causal language model (Hugging Face <c>DeepseekV3ForCausalLM</c>): token embedding,
/// <c>num_hidden_layers</c> blocks of multi-head latent attention and dense or MoE feed-forward, a final RMSNorm and
/// the output head, plus optional multi-token-prediction modules for training. Parameter names equal Hugging Face's
/// in-memory names (<c>model.layers.{i}.self_attn.kv_a_proj_with_mqa.weight</c>, <c>model.layers.{i}.mlp.experts.gate_up_proj</c>…).
/// Parameters are float32 unless the model was created for another <see cref="TensorPlacement"/> (a bfloat16 checkpoint
/// loaded for a GPU); pass inputs on the model's device.
/// </summary>
internal sealed class MoeCausalLM : nn.Module
{
    private readonly Backbone backbone;
    private readonly Linear lmHead;
    private readonly TensorPlacement createdOn;

    /// <summary>Creates a model with random weights drawn as Hugging Face does: N(0, initializer_range) matrices, unit norms, zero routing bias.</summary>
    public MoeCausalLM(MoeModelConfig config, long seed = 1) : this(config, seed, WeightInitialization.HuggingFace)
    {
    }

    /// <summary>Creates a model with random weights drawn by <paramref name="initialization"/> from <paramref name="seed"/>.</summary>
    public MoeCausalLM(MoeModelConfig config, long seed, WeightInitialization initialization) : this(config, seed, initialization, TensorPlacement.Cpu)
    {
    }

    /// <summary>
    /// Creates a model whose weights live on <paramref name="placement"/>'s device in its weight type, drawn there by
    /// <paramref name="initialization"/> from <paramref name="seed"/> (with that device's random generator).
    /// </summary>
    public MoeCausalLM(MoeModelConfig config, long seed, WeightInitialization initialization, TensorPlacement placement) : this(config, placement)
    {
        InitializeWeights(seed, initialization);
    }

    /// <summary>The model's modules with weights allocated on <paramref name="placement"/> but not drawn: a checkpoint fills them.</summary>
    private MoeCausalLM(MoeModelConfig config, TensorPlacement placement) : base(nameof(MoeCausalLM))
    {
        config.Validate();
        CheckMemory(config, placement);
        Config = config;
        createdOn = placement;
        backbone = new Backbone(config, placement);
        lmHead = placement.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        register_module("model", backbone);
        register_module("lm_head", lmHead);
    }

    /// <summary>
    /// A model whose weights are allocated on <paramref name="placement"/> and left for the caller to fill (a checkpoint
    /// load streams its tensors into them): no random draw, and no float32 copy when the placement is a GPU in bfloat16.
    /// </summary>
    internal static MoeCausalLM ForLoading(MoeModelConfig config, TensorPlacement placement) => new(config, placement);

    /// <summary>The type of the model's weights (float32, bfloat16 or float16), read from the output head.</summary>
    public ScalarType WeightType => lmHead.weight!.dtype;

    /// <summary>The architecture.</summary>
    public MoeModelConfig Config { get; }

    /// <summary>
    /// A new model with the same config and a copy of every weight and buffer: by default float32 on the CPU (what full
    /// fine-tuning starts from), else as <paramref name="placement"/> says (merging LoRA adapters keeps the base's device
    /// and type, so a bfloat16 model on a GPU needs no float32 host copy).
    /// </summary>
    internal MoeCausalLM Copy(TensorPlacement? placement = null)
    {
        var copy = ForLoading(Config, placement ?? TensorPlacement.Cpu);
        using var noGrad = TorchSharp.torch.no_grad();
        var from = state_dict();
        foreach (var (name, tensor) in copy.state_dict()) tensor.copy_(from[name]);
        return copy;
    }

    /// <summary>The main blocks, in order.</summary>
    public IReadOnlyList<DecoderLayer> Layers => backbone.Blocks;

    /// <summary>The multi-token-prediction modules (empty when <c>num_nextn_predict_layers</c> is 0).</summary>
    public IReadOnlyList<MultiTokenPredictionLayer> PredictionLayers => backbone.PredictionLayers;

    /// <summary>Every MoE feed-forward with its block index (main blocks, then MTP blocks).</summary>
    public IEnumerable<(int Layer, MoeFeedForward Moe)> MoeLayers()
    {
        for (int i = 0; i < backbone.Blocks.Count; i++)
        {
            if (backbone.Blocks[i].Moe is { } moe) yield return (i, moe);
        }
        for (int k = 0; k < backbone.PredictionLayers.Count; k++)
        {
            if (backbone.PredictionLayers[k].Moe is { } moe) yield return (Config.NumHiddenLayers + k, moe);
        }
    }

    /// <summary>The device of the parameters.</summary>
    public Device Device => lmHead.weight!.device;

    /// <summary>Logits [B, T, V] (float32) for ids [B, T]; with a cache in <paramref name="context"/>, positions continue after it and it is extended.</summary>
    public Tensor Forward(Tensor ids, ForwardContext context)
    {
        using var scope = torch.NewDisposeScope();
        return lmHead.Project(HiddenStates(ids, context).Hidden).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The final-normed hidden states [B, T, H] for ids [B, T] (what the output head reads): the backbone's features for
    /// other heads, such as a classifier; with the MoE layers' routing in training.
    /// </summary>
    public (Tensor Hidden, RoutingStatistics Routing) HiddenStates(Tensor ids, ForwardContext context)
    {
        using var scope = torch.NewDisposeScope();
        long past = context.Cache?.Length ?? 0;
        var positions = torch.arange(past, past + ids.shape[1], dtype: ScalarType.Int64, device: ids.device);
        var (hidden, routing) = backbone.Forward(ids, positions, context);
        return (hidden.MoveToOuterDisposeScope(), routing.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The training loss for ids [B, T] and next-token targets [B, T]: mean cross-entropy, plus
    /// <paramref name="mtpWeight"/>/D · Σ_k (cross-entropy of MTP depth k), plus the balance losses the MoE layers add.
    /// Returns the total and the main cross-entropy (both scalars) and, in training, the routing of every MoE layer that
    /// ran (the MTP depths' too). With the fused linear + cross-entropy kernel in <paramref name="context"/>, the head's
    /// logits are computed in row chunks inside the loss and never held whole.
    /// </summary>
    public (Tensor Total, Tensor CrossEntropy, RoutingStatistics Routing) Loss(Tensor ids, Tensor targets, ForwardContext context, double mtpWeight)
    {
        using var scope = torch.NewDisposeScope();
        var (hidden, routing) = HiddenStates(ids, context);
        long t = ids.shape[1];
        var fusedHead = context.Kernels.Fused(KernelOp.LinearCrossEntropy);
        var crossEntropy = HeadCrossEntropy(hidden, targets, context);
        var total = crossEntropy;
        int depth = backbone.PredictionLayers.Count;
        if (depth > 0 && mtpWeight > 0 && t > depth)
        {
            Tensor? mtpSum = null;
            var previous = hidden;
            for (int k = 1; k <= depth; k++)
            {
                long length = t - k;
                var positions = torch.arange(length, dtype: ScalarType.Int64, device: ids.device);
                var (cos, sin) = backbone.Rope.CosSin(positions);
                var nextEmbeddings = backbone.Embed(targets.narrow(1, k - 1, length), context.ComputeType);
                var mtp = backbone.PredictionLayers[k - 1];
                var mtpTargets = targets.narrow(1, k, length).reshape(-1);
                Tensor ce;
                if (fusedHead != null)
                {
                    var (h, headInput, mtpRouting) = mtp.ForwardToHead(previous.narrow(1, 0, length), nextEmbeddings, cos, sin, backbone.Rope, context);
                    ce = LinearCrossEntropy.Mean(headInput.reshape(-1, Config.HiddenSize), lmHead.weight!, mtpTargets, fusedHead, context);
                    previous = h;
                    routing = routing.With(mtpRouting);
                }
                else
                {
                    var (h, mtpLogits, mtpRouting) = mtp.Forward(previous.narrow(1, 0, length), nextEmbeddings, cos, sin, backbone.Rope, lmHead, context);
                    ce = nn.functional.cross_entropy(mtpLogits.reshape(-1, Config.VocabSize), mtpTargets);
                    previous = h;
                    routing = routing.With(mtpRouting);
                }
                mtpSum = mtpSum is null ? ce : mtpSum + ce;
            }
            total = total + mtpSum! * (mtpWeight / depth);
        }
        if (routing.BalanceLoss() is { } balance) total = total + balance;
        return (total.MoveToOuterDisposeScope(), crossEntropy.MoveToOuterDisposeScope(), routing.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The mean cross-entropy of the output head over final-normed hidden states [B, T, H] against targets [B, T]: the
    /// fused linear + cross-entropy kernel of <paramref name="context"/> when it has one, else float32 logits and
    /// <c>cross_entropy</c>.
    /// </summary>
    internal Tensor HeadCrossEntropy(Tensor hidden, Tensor targets, ForwardContext context)
    {
        var fusedHead = context.Kernels.Fused(KernelOp.LinearCrossEntropy);
        return fusedHead != null
            ? LinearCrossEntropy.Mean(hidden.reshape(-1, Config.HiddenSize), lmHead.weight!, targets.reshape(-1), fusedHead, context)
            : nn.functional.cross_entropy(lmHead.Project(hidden).to(ScalarType.Float32).reshape(-1, Config.VocabSize), targets.reshape(-1));
    }

    /// <summary>The token embeddings [B, T, H] of ids [B, T] in <paramref name="computeType"/>: the input of the first block.</summary>
    internal Tensor Embed(Tensor ids, ScalarType computeType) => backbone.Embed(ids, computeType);

    /// <summary>The rotary embedding the blocks share.</summary>
    internal RotaryEmbedding Rope => backbone.Rope;

    /// <summary>The final RMSNorm (<c>model.norm</c>) of the last block's output: the hidden states the output head reads.</summary>
    internal Tensor FinalNorm(Tensor h, ForwardContext context) => backbone.FinalNorm(h, context);

    /// <summary>Parameters that take weight decay (matrices and embeddings) and those that do not (norm scales, biases).</summary>
    public (List<Parameter> Decay, List<Parameter> NoDecay) ParameterGroupsForWeightDecay() => SplitForWeightDecay(named_parameters());

    /// <summary>
    /// Splits named parameters into those that take weight decay (matrices, embeddings) and those that do not (norm
    /// scales, biases: any parameter of fewer than two dimensions or named <c>*.bias</c>), in the given order. Every
    /// model that trains (the language model, the classifier over it) groups its parameters with this rule.
    /// </summary>
    internal static (List<Parameter> Decay, List<Parameter> NoDecay) SplitForWeightDecay(IEnumerable<(string Name, Parameter Parameter)> parameters)
    {
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        foreach (var (name, parameter) in parameters)
        {
            bool isNormOrBias = parameter.dim() < 2 || name.EndsWith(".bias", StringComparison.Ordinal);
            (isNormOrBias ? noDecay : decay).Add(parameter);
        }
        return (decay, noDecay);
    }

    /// <summary>
    /// Weights created in host memory (in their weight type): a config whose weights cannot fit in the memory this process
    /// may use is refused before any tensor exists, naming the sizes, instead of failing deep in an allocation (or being
    /// killed for it).
    /// </summary>
    private static void CheckMemory(MoeModelConfig config, TensorPlacement placement)
    {
        // Weights placed on a GPU take no host memory; the device's own allocator reports a shortage there.
        if (placement.Device.type != DeviceType.CPU) return;
        long parameters = config.ParameterCount();
        int bytes = placement.ElementSize;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (available > 0 && parameters > available / bytes)
        {
            throw new ArgumentException(
                $"The model config describes {parameters:N0} parameters ({parameters * (double)bytes / (1L << 30):N1} GiB of {placement.WeightType} weights), more than the " +
                $"{available / (double)(1L << 30):N1} GiB of memory available: check num_hidden_layers ({config.NumHiddenLayers}), vocab_size ({config.VocabSize}), " +
                $"hidden_size ({config.HiddenSize}) and n_routed_experts ({config.NRoutedExperts}).", nameof(config));
        }
    }

    private void InitializeWeights(long seed, WeightInitialization initialization) => InitializeWeights(seed, initialization, _ => true);

    /// <summary>
    /// Draws the parameters whose names <paramref name="which"/> accepts as <paramref name="initialization"/> does (a
    /// checkpoint without multi-token-prediction modules leaves theirs to this).
    /// </summary>
    internal void InitializeWeights(long seed, WeightInitialization initialization, Func<string, bool> which)
    {
        if (!Enum.IsDefined(initialization))
            throw new ArgumentOutOfRangeException(nameof(initialization), initialization, "Unknown weight initialization.");
        using var noGrad = torch.no_grad();
        // TorchSharp's generators live on the CPU: weights placed on a GPU draw from that device's default generator, seeded here.
        using var generator = createdOn.Device.type == DeviceType.CPU ? new Generator((ulong)seed) : null;
        if (generator is null) torch.cuda.manual_seed_all(seed);
        double std = Config.InitializerRange;
        foreach (var (name, parameter) in named_parameters())
        {
            if (!which(name)) continue;
            bool embedding = name.EndsWith("embed_tokens.weight", StringComparison.Ordinal);
            if (parameter.dim() >= 2 && initialization == WeightInitialization.UnitEmbedding && embedding)
            {
                parameter.normal_(0, 1, generator);
            }
            else if (parameter.dim() >= 2 && initialization != WeightInitialization.FanIn)
            {
                parameter.normal_(0, std, generator);
            }
            else if (parameter.dim() >= 2)
            {
                // Every matrix here reads its input along the last dimension ([out, in], or [E, out, in] for experts).
                double fanIn = parameter.shape[^1];
                if (embedding) parameter.normal_(0, 1, generator);
                else if (parameter.dim() == 3) parameter.normal_(0, 1 / Math.Sqrt(fanIn), generator);
                else parameter.uniform_(-1 / Math.Sqrt(fanIn), 1 / Math.Sqrt(fanIn), generator);
            }
            else if (name.EndsWith(".bias", StringComparison.Ordinal))
            {
                parameter.zero_();
            }
            else
            {
                parameter.fill_(1.0);
            }
        }
    }

    /// <summary>Hugging Face's <c>model</c>: <c>embed_tokens</c>, <c>layers</c> (main blocks then MTP modules) and <c>norm</c>.</summary>
    private sealed class Backbone : nn.Module
    {
        private readonly Embedding embedTokens;
        private readonly RmsNorm norm;

        public Backbone(MoeModelConfig config, TensorPlacement placement) : base(nameof(Backbone))
        {
            embedTokens = placement.Embedding(config.VocabSize, config.HiddenSize);
            var layers = new ModuleList<nn.Module>();
            for (int i = 0; i < config.NumHiddenLayers; i++)
            {
                var block = new DecoderLayer(config, i, config.IsMoeLayer(i), placement);
                Blocks.Add(block);
                layers.Add(block);
            }
            for (int k = 0; k < config.NumNextnPredictLayers; k++)
            {
                var mtp = new MultiTokenPredictionLayer(config, config.NumHiddenLayers + k, placement);
                PredictionLayers.Add(mtp);
                layers.Add(mtp);
            }
            norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, placement);
            Rope = new RotaryEmbedding(config);
            register_module("embed_tokens", embedTokens);
            register_module("layers", layers);
            register_module("norm", norm);
            register_module("rotary_emb", Rope);
        }

        public List<DecoderLayer> Blocks { get; } = new();

        public List<MultiTokenPredictionLayer> PredictionLayers { get; } = new();

        public RotaryEmbedding Rope { get; }

        public Tensor Embed(Tensor ids, ScalarType computeType) => embedTokens.forward(ids).to(computeType);

        /// <summary>ids [B, T] → final-normed hidden states [B, T, H], and the MoE blocks' routing in training.</summary>
        public (Tensor Hidden, RoutingStatistics Routing) Forward(Tensor ids, Tensor positions, ForwardContext context)
        {
            using var scope = torch.NewDisposeScope();
            var (cos, sin) = Rope.CosSin(positions);
            var h = Embed(ids, context.ComputeType);
            var routing = RoutingStatistics.None;
            bool recompute = context.RecomputeActivations && context.Training && torch.is_grad_enabled();
            // A recomputed block back-propagates only when its input needs a gradient; with a frozen embedding (LoRA)
            // it would not, and the adapters inside would get none: mark the input as PEFT's enable_input_require_grads does.
            if (recompute && !h.requires_grad) h = h.requires_grad_(true);
            int firstKept = Blocks.Count - context.LastBlocksNotRecomputed;
            for (int i = 0; i < Blocks.Count; i++)
            {
                var block = Blocks[i];
                (h, var layer) = recompute && i < firstKept ? RecomputedBlock.Run(block, h, cos, sin, Rope, context) : block.Forward(h, cos, sin, Rope, context);
                routing = routing.With(layer);
            }
            return (FinalNorm(h, context).MoveToOuterDisposeScope(), routing.MoveToOuterDisposeScope());
        }

        /// <summary>The final RMSNorm of the last block's output.</summary>
        public Tensor FinalNorm(Tensor h, ForwardContext context) => norm.Forward(h, context);

        /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
        protected override void RegisterComponents()
        {
        }
    }

    /// <summary>Submodules and parameters are registered explicitly, with Hugging Face's names, in the constructor.</summary>
    protected override void RegisterComponents()
    {
    }
}
