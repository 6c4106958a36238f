
namespace MLNet.MoE;

/// <summary>Options of the Mixture-of-Experts language-model trainer. Defaults train a small model on a CPU in minutes.</summary>
public sealed class LanguageModelOptions : ITrainerOptimizationOptions
{
    /// <summary>The token-id column (a vector of Int32, from <c>TokenizeForMoe</c>). Default "Tokens".</summary>
    public string TokenColumnName { get; set; } = "Tokens";

    /// <summary>A text column of prompts; when set, the transformer adds a <c>GeneratedText</c> column. Default null.</summary>
    public string? PromptColumnName { get; set; }

    /// <summary>The architecture; null picks <see cref="MoeModelConfig.Tiny"/>. Its <c>vocab_size</c> is raised to the tokenizer's when smaller.</summary>
    public MoeModelConfig? Model { get; set; }

    /// <summary>
    /// Start from this language model's weights instead of random ones (fine-tuning an imported, loaded or trained
    /// model); its config replaces <see cref="Model"/>. The weights are copied: the given transformer is not changed.
    /// </summary>
    public LanguageModelTransformer? InitialModel { get; set; }

    /// <summary>
    /// How a model trained from scratch draws its random weights (ignored with <see cref="InitialModel"/>). Default
    /// <see cref="WeightInitialization.HuggingFace"/>, which learns fastest early. For long runs over a small corpus
    /// <see cref="WeightInitialization.UnitEmbedding"/> generalised much better and keeps the router balanced (measured in
    /// docs/benchmarks.md).
    /// </summary>
    public WeightInitialization Initialization { get; set; } = WeightInitialization.HuggingFace;

    /// <summary>The tokenizer; null takes the one attached to the token column by <c>TokenizeForMoe</c>.</summary>
    public MoeTokenizer? Tokenizer { get; set; }

    /// <summary>Tokens per training window (2 to max_position_embeddings). Default 128.</summary>
    public int ContextLength { get; set; } = 128;

    /// <summary>Windows per optimizer step (micro-batch × accumulation). Default 16.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>Micro-batches whose gradients are summed before each step. Default 1.</summary>
    public int GradientAccumulationSteps { get; set; } = 1;

    /// <summary>Optimizer steps; 0 derives them from <see cref="Epochs"/>. Default 300.</summary>
    public int MaxSteps { get; set; } = 300;

    /// <summary>Passes over the training tokens, used when <see cref="MaxSteps"/> is 0. Default 1.</summary>
    public double Epochs { get; set; } = 1;

    /// <summary>Peak learning rate of AdamW. Default 3e-3.</summary>
    public double LearningRate { get; set; } = 3e-3;

    /// <summary>Final learning rate of the cosine decay as a fraction of the peak (0 to 1). Default 0.1.</summary>
    public double MinLearningRateRatio { get; set; } = 0.1;

    /// <summary>Linear warm-up steps. Default 30.</summary>
    public int WarmupSteps { get; set; } = 30;

    /// <summary>Decoupled weight decay of matrices and embeddings (not norms, biases or the routing bias). Default 0.1.</summary>
    public double WeightDecay { get; set; } = 0.1;

    /// <summary>AdamW β1. Default 0.9.</summary>
    public double Beta1 { get; set; } = 0.9;

    /// <summary>AdamW β2. Default 0.95.</summary>
    public double Beta2 { get; set; } = 0.95;

    /// <summary>Clip the global gradient norm to this; 0 turns clipping off. Default 1.</summary>
    public double GradientClipNorm { get; set; } = 1.0;

    /// <summary>Seed of weights, batches and the validation split; null takes the MLContext seed, else 1.</summary>
    public int? Seed { get; set; }

    /// <summary>Fraction of the rows (documents) held out for validation (0 to 0.5). Default 0.05.</summary>
    public double ValidationFraction { get; set; } = 0.05;

    /// <summary>Where to train. Default <see cref="ComputeDevice.Auto"/>.</summary>
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

    /// <summary>Expert capacity during capacity-padded training (<see cref="ExpertDispatch"/>) as a multiple of the mean load; assignments over it are dropped and counted. Default 2.</summary>
    public double CapacityFactor { get; set; } = 2.0;

    /// <summary>γ of DeepSeek-V3's auxiliary-loss-free balancing: after each step every expert's routing bias moves by γ towards the mean load. Default 0.001.</summary>
    public double BiasUpdateRate { get; set; } = 0.001;

    /// <summary>α of the sequence-wise balance loss (sigmoid routing) or of the expert-level auxiliary loss (softmax routing). Default 0.0001.</summary>
    public double BalanceLossWeight { get; set; } = 0.0001;

    /// <summary>
    /// Recompute each decoder block's activations during the backward pass instead of keeping them from the forward
    /// pass: activation memory drops to about one hidden state per block, so larger batches or contexts fit, for about
    /// one more forward pass of compute per step. Results are the same as without it. Default false.
    /// </summary>
    public bool RecomputeActivations { get; set; }

    /// <summary>λ of the multi-token-prediction loss (when the model has MTP modules). Default 0.3.</summary>
    public double MultiTokenPredictionWeight { get; set; } = 0.3;

    /// <summary>The dtype of activations during training. Default <see cref="TrainingPrecision.Auto"/> (bfloat16 on CUDA, float32 on CPU).</summary>
    public TrainingPrecision Precision { get; set; } = TrainingPrecision.Auto;

    /// <summary>Folder for training checkpoints (weights, optimizer state, schedule position, sampler state, balance biases); null for none. Default null.</summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>Write a checkpoint every this many steps (and at the last step) when <see cref="CheckpointDirectory"/> is set; 0 never. Default 100.</summary>
    public int CheckpointEverySteps { get; set; } = 100;

    /// <summary>How many of the newest checkpoints to keep (at least 1). Default 3.</summary>
    public int KeepCheckpoints { get; set; } = 3;

    /// <summary>Continue from a training checkpoint: a checkpoint file, or a folder whose newest checkpoint is used (a folder with
    /// none starts fresh). The data, seed and options must be those of the interrupted run. Default null.</summary>
    public string? ResumeFrom { get; set; }

    /// <summary>Steps are skipped when the loss or a gradient is not finite; after this many in a row training stops with an
    /// exception naming the last good checkpoint (at least 1). Default 5.</summary>
    public int MaxConsecutiveSkippedSteps { get; set; } = 5;

    /// <summary>Log progress every this many steps. Default 10.</summary>
    public int LogEverySteps { get; set; } = 10;

    /// <summary>Receives a report every <see cref="LogEverySteps"/> steps and at the end. Default null.</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }

    /// <summary>How the transformer generates text for the prompt column.</summary>
    public GenerationOptions Generation { get; set; } = new();

    /// <summary>Checks every option's range before training; throws <see cref="ArgumentOutOfRangeException"/> naming the option.</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, object value, string rule)
        {
            if (!ok) throw new ArgumentOutOfRangeException(name, value, $"LanguageModelOptions.{name} {rule}, got {value}.");
        }
        Check(!string.IsNullOrWhiteSpace(TokenColumnName), nameof(TokenColumnName), TokenColumnName ?? "null", "must name a column");
        Check(ContextLength >= 2 && ContextLength <= 1 << 20, nameof(ContextLength), ContextLength, "must be between 2 and 1,048,576");
        Check(BatchSize >= 1 && BatchSize <= 1 << 16, nameof(BatchSize), BatchSize, "must be between 1 and 65,536");
        Check((long)BatchSize * ContextLength <= 1 << 27, nameof(BatchSize), BatchSize, $"× ContextLength ({ContextLength}) must not exceed 134,217,728 tokens a step");
        this.ValidateEngineOptions(Check);
        Check(MaxSteps >= 0, nameof(MaxSteps), MaxSteps, "must not be negative");
        Check(double.IsFinite(Epochs) && Epochs >= 0 && Epochs <= 100_000, nameof(Epochs), Epochs, "must be finite, between 0 and 100,000");
        Check(MaxSteps > 0 || Epochs > 0, nameof(Epochs), Epochs, "must be positive when MaxSteps is 0");
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
        Check(Enum.IsDefined(Initialization), nameof(Initialization), Initialization, "must be HuggingFace, FanIn or UnitEmbedding");
        Check(Enum.IsDefined(ExpertDispatch), nameof(ExpertDispatch), ExpertDispatch, "must be Auto, Dropless or CapacityPadded");
        Check(BiasUpdateRate >= 0 && BiasUpdateRate <= 1, nameof(BiasUpdateRate), BiasUpdateRate, "must be between 0 and 1");
        Check(BalanceLossWeight >= 0 && BalanceLossWeight <= 1, nameof(BalanceLossWeight), BalanceLossWeight, "must be between 0 and 1");
        Check(MultiTokenPredictionWeight >= 0 && MultiTokenPredictionWeight <= 100, nameof(MultiTokenPredictionWeight), MultiTokenPredictionWeight, "must be between 0 and 100");
        Check(LogEverySteps >= 1, nameof(LogEverySteps), LogEverySteps, "must be at least 1");
        Check(CheckpointEverySteps >= 0, nameof(CheckpointEverySteps), CheckpointEverySteps, "must not be negative");
        Check(KeepCheckpoints >= 1, nameof(KeepCheckpoints), KeepCheckpoints, "must be at least 1");
        Check(ResumeFrom == null || File.Exists(ResumeFrom) || Directory.Exists(ResumeFrom), nameof(ResumeFrom), ResumeFrom ?? "", "must name an existing checkpoint file or folder");
        Check(DeviceId is null or >= 0, nameof(DeviceId), DeviceId ?? -1, "must not be negative");
        Check(Generation != null, nameof(Generation), "null", "must be set");
        Generation!.Validate();
        var model = InitialModel?.Config ?? Model;
        if (model != null) Check(ContextLength <= model.MaxPositionEmbeddings, nameof(ContextLength), ContextLength, $"must not exceed the model's max_position_embeddings ({model.MaxPositionEmbeddings})");
    }
}
