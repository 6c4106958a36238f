namespace MLNet.MoE;

/// <summary>
/// The options that both Mixture-of-Experts trainers take under the same names: the architecture of a new model, the
/// tokenizer, batches and steps, the AdamW optimizer and its schedule, MoE routing, kernels, precision, device, training
/// checkpoints and progress logging. The trainers' own options derive from it: <see cref="LanguageModelOptions"/> and
/// <see cref="MoeTextClassificationOptions"/>; where their defaults differ, each property says both.
/// </summary>
public abstract class MoeTrainerOptions
{
    /// <summary>
    /// Sets the defaults that differ between the trainers; every other option starts at the default its documentation
    /// states. Only the trainers' own options derive from this class.
    /// </summary>
    private protected MoeTrainerOptions(int batchSize, int maxSteps, double learningRate, int warmupSteps, double weightDecay, double beta2,
        double validationFraction, TrainingPrecision precision)
    {
        BatchSize = batchSize;
        MaxSteps = maxSteps;
        LearningRate = learningRate;
        WarmupSteps = warmupSteps;
        WeightDecay = weightDecay;
        Beta2 = beta2;
        ValidationFraction = validationFraction;
        Precision = precision;
    }

    /// <summary>
    /// The architecture of a model trained from random weights; null picks the trainer's default:
    /// <see cref="MoeModelConfig.Tiny"/> for <see cref="LanguageModelOptions"/>,
    /// <see cref="MoeTextClassificationOptions.DefaultModel"/> for <see cref="MoeTextClassificationOptions"/>. Not used
    /// when the model starts from existing weights. Its <c>vocab_size</c> is raised to the tokenizer's when smaller.
    /// </summary>
    public MoeModelConfig? Model { get; set; }

    /// <summary>
    /// How a model trained from random weights draws them (ignored when the model starts from existing weights: a
    /// language model's <see cref="LanguageModelOptions.InitialModel"/>, or a classifier's language model, Hugging Face
    /// checkpoint or initial model). Default <see cref="WeightInitialization.UnitEmbedding"/>: the token embedding at unit
    /// variance keeps each token distinct in the residual stream, so the router stays balanced and a small model
    /// generalises better than with <see cref="WeightInitialization.HuggingFace"/>'s N(0, 0.02) embedding, which learns
    /// faster over the first few hundred steps (measured in docs/benchmarks.md).
    /// </summary>
    public WeightInitialization Initialization { get; set; } = WeightInitialization.UnitEmbedding;

    /// <summary>
    /// The tokenizer. Null takes, for <see cref="LanguageModelOptions"/>, the one attached to the token column by
    /// <c>TokenizeForMoe</c>; for <see cref="MoeTextClassificationOptions"/>, the language model's (with
    /// <see cref="MoeTextClassificationOptions.LanguageModelPath"/> or <see cref="MoeTextClassificationOptions.InitialModel"/>),
    /// the checkpoint folder's (with <see cref="MoeTextClassificationOptions.HuggingFaceCheckpointDirectory"/>), else the
    /// byte-level tokenizer.
    /// </summary>
    public MoeTokenizer? Tokenizer { get; set; }

    /// <summary>
    /// Examples per optimizer step (1 to 65,536): windows of <see cref="LanguageModelOptions.ContextLength"/> tokens for
    /// the language model (default 16), rows for the classifier (default 32).
    /// </summary>
    public int BatchSize { get; set; }

    /// <summary>
    /// Micro-batches each step's <see cref="BatchSize"/> examples are split into; their gradients are summed (each
    /// weighted by its share of the examples) before the update, so a step is that of the whole batch with the activation
    /// memory of one micro-batch. Must divide <see cref="BatchSize"/>. Default 1.
    /// </summary>
    public int GradientAccumulationSteps { get; set; } = 1;

    /// <summary>
    /// Optimizer steps (at most: the classifier may stop early); 0 derives them from the options' <c>Epochs</c>. Default
    /// 300 for <see cref="LanguageModelOptions"/>, 0 for <see cref="MoeTextClassificationOptions"/>.
    /// </summary>
    public int MaxSteps { get; set; }

    /// <summary>Peak learning rate of AdamW. Default 3e-3 for <see cref="LanguageModelOptions"/>, 1e-3 for <see cref="MoeTextClassificationOptions"/>.</summary>
    public double LearningRate { get; set; }

    /// <summary>Final learning rate of the cosine decay as a fraction of the peak (0 to 1). Default 0.1.</summary>
    public double MinLearningRateRatio { get; set; } = 0.1;

    /// <summary>
    /// Linear warm-up steps (the classifier caps them at its planned steps). Default 30 for
    /// <see cref="LanguageModelOptions"/>, 20 for <see cref="MoeTextClassificationOptions"/>.
    /// </summary>
    public int WarmupSteps { get; set; }

    /// <summary>
    /// Decoupled weight decay of matrices and embeddings (not norms, biases or the routing bias), 0 to 10. Default 0.1 for
    /// <see cref="LanguageModelOptions"/>, 0.01 for <see cref="MoeTextClassificationOptions"/>.
    /// </summary>
    public double WeightDecay { get; set; }

    /// <summary>AdamW β1, in [0, 1). Default 0.9.</summary>
    public double Beta1 { get; set; } = 0.9;

    /// <summary>AdamW β2, in [0, 1). Default 0.95 for <see cref="LanguageModelOptions"/>, 0.999 for <see cref="MoeTextClassificationOptions"/>.</summary>
    public double Beta2 { get; set; }

    /// <summary>Clip the global gradient norm to this; 0 turns clipping off. Default 1.</summary>
    public double GradientClipNorm { get; set; } = 1.0;

    /// <summary>
    /// Seed of the random weights, the validation split and the batch order (and of the classifier's dropout); null takes
    /// the MLContext seed, else 1.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>
    /// Fraction of the rows given to <c>Fit</c> held out for validation (0 to 0.5): the language model reports its loss on
    /// them; the classifier chooses its best weights and stops early on them (0: no validation, the last weights are
    /// kept). Default 0.05 for <see cref="LanguageModelOptions"/>, 0.1 for <see cref="MoeTextClassificationOptions"/>.
    /// </summary>
    public double ValidationFraction { get; set; }

    /// <summary>Where to train (the classifier's transformer scores there too). Default <see cref="ComputeDevice.Auto"/>.</summary>
    public ComputeDevice Device { get; set; } = ComputeDevice.Auto;

    /// <summary>CUDA device id; null takes <c>MLContext.GpuDeviceId</c>, else 0.</summary>
    public int? DeviceId { get; set; }

    /// <summary>
    /// Fused kernels (ATen operators compiled from TorchScript at run time: <c>rms_norm</c>, fused AdamW, SwiGLU over one
    /// gate-and-up GEMM, the output head's linear + cross-entropy in row chunks, grouped-GEMM experts) or the managed
    /// TorchSharp code. <see cref="KernelMode.Auto"/> probes each kernel on the training device at start-up and runs the
    /// managed code, with one warning, for any that fails; <see cref="KernelMode.Fused"/> fails before training instead.
    /// The chosen paths are logged and reported in the training summary's <c>Kernels</c>. Default Auto.
    /// </summary>
    public KernelMode Kernels { get; set; } = KernelMode.Auto;

    /// <summary>
    /// How the routed experts compute during training. <see cref="ExpertDispatch.Auto"/>: dropless grouped GEMMs on CUDA
    /// (capacity-padded, with the kernel warning, when the grouped GEMM cannot run there), capacity-padded on the CPU.
    /// <see cref="ExpertDispatch.Dropless"/>: no assignment dropped (grouped GEMMs on CUDA, failing before training when
    /// they cannot run; each expert on exactly its tokens on the CPU). <see cref="ExpertDispatch.CapacityPadded"/>:
    /// <see cref="CapacityFactor"/> applies and assignments over it are dropped. Default Auto.
    /// </summary>
    public ExpertDispatch ExpertDispatch { get; set; } = ExpertDispatch.Auto;

    /// <summary>
    /// Expert capacity during capacity-padded training (<see cref="ExpertDispatch"/>) as a multiple of the mean load (1 to
    /// 1024); assignments over it are dropped and counted. Default 2.
    /// </summary>
    public double CapacityFactor { get; set; } = 2.0;

    /// <summary>
    /// γ of DeepSeek-V3's auxiliary-loss-free balancing (0 to 1): after each step every expert's routing bias moves by γ
    /// towards the mean load. Default 0.001.
    /// </summary>
    public double BiasUpdateRate { get; set; } = 0.001;

    /// <summary>
    /// α of the sequence-wise balance loss (sigmoid routing) or of the expert-level auxiliary loss (softmax routing), 0 to
    /// 1. Default 0.0001.
    /// </summary>
    public double BalanceLossWeight { get; set; } = 0.0001;

    /// <summary>
    /// Recompute each decoder block's activations during the backward pass instead of keeping them from the forward
    /// pass: activation memory drops to about one hidden state per block, so larger batches or contexts fit, for about
    /// one more forward pass of compute per step. Results are the same as without it. Default false.
    /// </summary>
    public bool RecomputeActivations { get; set; }

    /// <summary>
    /// With <see cref="RecomputeActivations"/>, the last this many decoder blocks keep their activations instead of being
    /// recomputed: less compute for more memory. The backward pass reaches those blocks first and frees their
    /// activations before it recomputes any other block, so the first kept block costs about no memory beyond what
    /// recomputing one block needs anyway, and each further one costs one block's activations (at 8 × 2,048 tokens of a
    /// Moonlight-16B-shaped model, about 2 GiB a block for about 12 ms of a 1.26 s step). Ignored without
    /// <see cref="RecomputeActivations"/>. Default 0: every block is recomputed.
    /// </summary>
    public int LastBlocksNotRecomputed { get; set; }

    /// <summary>
    /// The dtype of activations during training; weights and optimizer state stay float32 (and the classifier's pooled
    /// features and head, and its scoring). <see cref="TrainingPrecision.Auto"/> takes bfloat16 on CUDA and float32 on the
    /// CPU. Default <see cref="TrainingPrecision.Auto"/> for <see cref="LanguageModelOptions"/>,
    /// <see cref="TrainingPrecision.Float32"/> for <see cref="MoeTextClassificationOptions"/>.
    /// </summary>
    public TrainingPrecision Precision { get; set; }

    /// <summary>
    /// Write a training checkpoint every this many steps (and at the last step, or when the classifier stops early) when
    /// the training-checkpoint folder is set (<see cref="LanguageModelOptions.CheckpointDirectory"/>,
    /// <see cref="MoeTextClassificationOptions.TrainingCheckpointDirectory"/>); 0 never. Default 100.
    /// </summary>
    public int CheckpointEverySteps { get; set; } = 100;

    /// <summary>How many of the newest training checkpoints to keep (at least 1). Default 3.</summary>
    public int KeepCheckpoints { get; set; } = 3;

    /// <summary>
    /// Continue from a training checkpoint: a checkpoint file, or a folder whose newest checkpoint is used (a folder with
    /// none starts fresh). The data, tokenizer, model, seed and options must be those of the interrupted run; the
    /// classifier's <see cref="MoeTextClassificationOptions.LanguageModelSteps"/> are not repeated (the checkpoint holds
    /// the adapted backbone). Default null.
    /// </summary>
    public string? ResumeFrom { get; set; }

    /// <summary>
    /// Steps are skipped when the loss or a gradient is not finite; after this many in a row training stops with an
    /// exception naming the last good checkpoint (at least 1). Default 5.
    /// </summary>
    public int MaxConsecutiveSkippedSteps { get; set; } = 5;

    /// <summary>Log progress every this many steps (and, for the classifier, after every evaluation). Default 10.</summary>
    public int LogEverySteps { get; set; } = 10;

    /// <summary>Checks every option's range before training; throws <see cref="ArgumentOutOfRangeException"/> naming the option.</summary>
    public abstract void Validate();

    /// <summary>
    /// Checks the range of every option declared here; throws <see cref="ArgumentOutOfRangeException"/> naming the option
    /// as the options' type does (<c>LanguageModelOptions.BatchSize ...</c>).
    /// </summary>
    private protected void ValidateSharedOptions()
    {
        Check(BatchSize >= 1 && BatchSize <= 1 << 16, nameof(BatchSize), BatchSize, "must be between 1 and 65,536");
        Check(GradientAccumulationSteps >= 1 && BatchSize % GradientAccumulationSteps == 0, nameof(GradientAccumulationSteps), GradientAccumulationSteps, "must be at least 1 and divide BatchSize");
        Check(Enum.IsDefined(Precision), nameof(Precision), Precision, "must be Auto, Float32 or BFloat16");
        Check(Enum.IsDefined(Initialization), nameof(Initialization), Initialization, "must be HuggingFace, FanIn or UnitEmbedding");
        Check(MaxConsecutiveSkippedSteps >= 1, nameof(MaxConsecutiveSkippedSteps), MaxConsecutiveSkippedSteps, "must be at least 1");
        Check(MaxSteps >= 0, nameof(MaxSteps), MaxSteps, "must not be negative");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), LearningRate, "must be positive and finite");
        Check(MinLearningRateRatio >= 0 && MinLearningRateRatio <= 1, nameof(MinLearningRateRatio), MinLearningRateRatio, "must be between 0 and 1");
        Check(WarmupSteps >= 0, nameof(WarmupSteps), WarmupSteps, "must not be negative");
        Check(WeightDecay >= 0 && WeightDecay <= 10, nameof(WeightDecay), WeightDecay, "must be between 0 and 10");
        Check(Beta1 >= 0 && Beta1 < 1, nameof(Beta1), Beta1, "must be in [0, 1)");
        Check(Beta2 >= 0 && Beta2 < 1, nameof(Beta2), Beta2, "must be in [0, 1)");
        Check(GradientClipNorm >= 0 && double.IsFinite(GradientClipNorm), nameof(GradientClipNorm), GradientClipNorm, "must be finite and not negative");
        Check(ValidationFraction >= 0 && ValidationFraction <= 0.5, nameof(ValidationFraction), ValidationFraction, "must be between 0 and 0.5");
        Check(CapacityFactor >= 1 && CapacityFactor <= 1024, nameof(CapacityFactor), CapacityFactor, "must be between 1 and 1024");
        Check(Enum.IsDefined(Kernels), nameof(Kernels), Kernels, "must be Auto, Fused or Managed");
        Check(Enum.IsDefined(ExpertDispatch), nameof(ExpertDispatch), ExpertDispatch, "must be Auto, Dropless or CapacityPadded");
        Check(BiasUpdateRate >= 0 && BiasUpdateRate <= 1, nameof(BiasUpdateRate), BiasUpdateRate, "must be between 0 and 1");
        Check(BalanceLossWeight >= 0 && BalanceLossWeight <= 1, nameof(BalanceLossWeight), BalanceLossWeight, "must be between 0 and 1");
        Check(LastBlocksNotRecomputed >= 0, nameof(LastBlocksNotRecomputed), LastBlocksNotRecomputed, "must not be negative");
        Check(LogEverySteps >= 1, nameof(LogEverySteps), LogEverySteps, "must be at least 1");
        Check(CheckpointEverySteps >= 0, nameof(CheckpointEverySteps), CheckpointEverySteps, "must not be negative");
        Check(KeepCheckpoints >= 1, nameof(KeepCheckpoints), KeepCheckpoints, "must be at least 1");
        Check(ResumeFrom == null || File.Exists(ResumeFrom) || Directory.Exists(ResumeFrom), nameof(ResumeFrom), ResumeFrom ?? "", "must name an existing checkpoint file or folder");
        Check(DeviceId is null or >= 0, nameof(DeviceId), DeviceId ?? -1, "must not be negative");
    }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="ok"/>, with the message
    /// "<c>&lt;options type&gt;.&lt;name&gt; &lt;rule&gt;, got &lt;value&gt;.</c>".
    /// </summary>
    private protected void Check(bool ok, string name, object value, string rule)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"{GetType().Name}.{name} {rule}, got {value}.");
    }
}
