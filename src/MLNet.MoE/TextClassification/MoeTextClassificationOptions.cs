
namespace MLNet.MoE;

/// <summary>
/// Options of the Mixture-of-Experts text-classification trainer. The backbone comes from at most one of
/// <see cref="LanguageModelPath"/>, <see cref="CheckpointDirectory"/> and <see cref="InitialModel"/>; with none of them
/// it is a new model with random weights (<see cref="Model"/>, default <see cref="DefaultModel"/>).
/// </summary>
public sealed class MoeTextClassificationOptions : ITrainerOptimizationOptions
{
    /// <summary>The label column: a key type (from <c>MapValueToKey</c>) with at least two values. Default "Label".</summary>
    public string LabelColumnName { get; set; } = "Label";

    /// <summary>The text column. Default "Text".</summary>
    public string TextColumnName { get; set; } = "Text";

    /// <summary>A second text column (sentence pairs); its tokens follow the first text's after an end-of-text token. Default null.</summary>
    public string? SecondTextColumnName { get; set; }

    /// <summary>The predicted-label output column (same key type as the label). Default "PredictedLabel".</summary>
    public string PredictedLabelColumnName { get; set; } = "PredictedLabel";

    /// <summary>The per-class probability output column. Default "Score".</summary>
    public string ScoreColumnName { get; set; } = "Score";

    /// <summary>Architecture of a randomly initialised backbone; null picks <see cref="DefaultModel"/>. Its vocab_size is raised to the tokenizer's when smaller.</summary>
    public MoeModelConfig? Model { get; set; }

    /// <summary>A language-model <c>.zip</c> saved by this package (<c>mlContext.Model.Save</c> of a pipeline ending in a <c>LanguageModelTransformer</c>): its weights and tokenizer become the backbone's. Default null.</summary>
    public string? LanguageModelPath { get; set; }

    /// <summary>A Hugging Face DeepseekV3 checkpoint directory (config.json + safetensors); the tokenizer is <see cref="Tokenizer"/>, else the directory's tokenizer.json. Default null.</summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>A language model in memory whose weights start the backbone (copied: the given model is not changed) and whose tokenizer is the default. Default null.</summary>
    public LanguageModelTransformer? InitialModel { get; set; }

    /// <summary>The tokenizer; null takes the language model's (with <see cref="LanguageModelPath"/>), the checkpoint's tokenizer.json, else the byte-level tokenizer.</summary>
    public MoeTokenizer? Tokenizer { get; set; }

    /// <summary>Tokens per row at most, end-of-text tokens included (4 to the model's max_position_embeddings); longer rows keep their first tokens. Default 128.</summary>
    public int MaxLength { get; set; } = 128;

    /// <summary>How hidden states become the row's features. Default <see cref="TextPooling.Mean"/>.</summary>
    public TextPooling Pooling { get; set; } = TextPooling.Mean;

    /// <summary>
    /// Width of a dense tanh layer between the pooled features and the classification head (as BERT's pooler); 0 makes the
    /// head one linear layer on the pooled features. Default 0.
    /// </summary>
    public int HeadHiddenSize { get; set; }

    /// <summary>Dropout on the features entering the classification head while training (0 to below 1). Default 0.1.</summary>
    public double Dropout { get; set; } = 0.1;

    /// <summary>Rows per optimizer step. Default 32.</summary>
    public int BatchSize { get; set; } = 32;

    /// <summary>
    /// Micro-batches each step's <see cref="BatchSize"/> rows are split into; their gradients are summed (each weighted by
    /// its share of the rows) before the update, so a step is that of the whole batch with the activation memory of one
    /// micro-batch. Must divide <see cref="BatchSize"/>. Default 1.
    /// </summary>
    public int GradientAccumulationSteps { get; set; } = 1;

    /// <summary>
    /// Recompute each decoder block's activations during the backward pass instead of keeping them from the forward
    /// pass: activation memory drops to about one hidden state per block, for about one more forward pass of compute per
    /// step. Results are the same as without it. Default false.
    /// </summary>
    public bool RecomputeActivations { get; set; }

    /// <summary>
    /// The dtype of the backbone's activations during training; weights, optimizer state, the pooled features and the head
    /// stay float32, and scoring computes in float32. Default <see cref="TrainingPrecision.Float32"/>;
    /// <see cref="TrainingPrecision.Auto"/> takes bfloat16 on CUDA and float32 on the CPU, as the language-model trainer does.
    /// </summary>
    public TrainingPrecision Precision { get; set; } = TrainingPrecision.Float32;

    /// <summary>Steps are skipped when the loss or a gradient is not finite; after this many in a row training stops with an
    /// exception naming the last good checkpoint (at least 1). Default 5.</summary>
    public int MaxConsecutiveSkippedSteps { get; set; } = 5;

    /// <summary>Passes over the training rows at most (early stopping may end sooner); used when <see cref="MaxSteps"/> is 0. Default 10.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Optimizer steps at most; 0 derives them from <see cref="Epochs"/>. Default 0.</summary>
    public int MaxSteps { get; set; }

    /// <summary>Peak learning rate of AdamW. Default 1e-3.</summary>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>Final learning rate of the cosine decay as a fraction of the peak (0 to 1). Default 0.1.</summary>
    public double MinLearningRateRatio { get; set; } = 0.1;

    /// <summary>Linear warm-up steps (capped at the planned steps). Default 20.</summary>
    public int WarmupSteps { get; set; } = 20;

    /// <summary>
    /// Multiplies the learning rate of the backbone (everything but the classification head), in (0, 1]: below 1 a
    /// pre-trained backbone moves less than the freshly initialised head. Default 1.
    /// </summary>
    public double BackboneLearningRateScale { get; set; } = 1.0;

    /// <summary>
    /// Steps of language-model training of the backbone on the training rows' own text before the classifier is trained
    /// (windows of <see cref="MaxLength"/> tokens, <see cref="BatchSize"/> per step, at <see cref="LearningRate"/>): adapts a
    /// backbone pre-trained on other text to the task's words. Only the rows the classifier trains on are read, never the
    /// validation split. Default 0 (none).
    /// </summary>
    public int LanguageModelSteps { get; set; }

    /// <summary>Decoupled weight decay of matrices and embeddings. Default 0.01.</summary>
    public double WeightDecay { get; set; } = 0.01;

    /// <summary>AdamW β1. Default 0.9.</summary>
    public double Beta1 { get; set; } = 0.9;

    /// <summary>AdamW β2. Default 0.999.</summary>
    public double Beta2 { get; set; } = 0.999;

    /// <summary>Clip the global gradient norm to this; 0 turns clipping off. Default 1.</summary>
    public double GradientClipNorm { get; set; } = 1.0;

    /// <summary>Fraction of the training rows held out (stratified by nothing: a seeded random split) to choose the best weights and stop early (0 to 0.5; 0: no validation, the last weights are kept). Default 0.1.</summary>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Stop after this many evaluations without a lower validation loss; 0 never stops early. Default 3.</summary>
    public int EarlyStoppingPatience { get; set; } = 3;

    /// <summary>Evaluate on the validation rows every this many steps; 0 evaluates at the end of every epoch. Default 0.</summary>
    public int EvaluateEverySteps { get; set; }

    /// <summary>Seed of the head's weights, the random backbone, the validation split and the batch order; null takes the MLContext seed, else 1.</summary>
    public int? Seed { get; set; }

    /// <summary>
    /// Classifiers trained and averaged as an ensemble (1 to 16). Member <c>m</c> (1-based) is the classifier a single
    /// training with seed <see cref="Seed"/> + m − 1 makes (its own head weights, random backbone if any, batch order and
    /// dropout masks) on the same rows and validation split; the transformer's probabilities are the mean of the
    /// members'. Fine-tuning runs from one small data set vary by a point or more of accuracy with the seed, and their
    /// average is steadier and usually more accurate than one of them, at that many times the training and scoring cost.
    /// With <see cref="TrainingCheckpointDirectory"/>, each member checkpoints into its own sub-folder (<c>member-01</c>,
    /// ...), and <see cref="ResumeFrom"/> takes that folder: finished members are reloaded, an interrupted one continues.
    /// An ensemble is saved and loaded in the model zip like one classifier; ONNX export takes single classifiers only.
    /// Default 1.
    /// </summary>
    public int EnsembleSize { get; set; } = 1;

    /// <summary>Where to train and score. Default <see cref="ComputeDevice.Auto"/>.</summary>
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

    /// <summary>Expert capacity during capacity-padded training (<see cref="ExpertDispatch"/>) as a multiple of the mean load. Default 2.</summary>
    public double CapacityFactor { get; set; } = 2.0;

    /// <summary>γ of DeepSeek-V3's routing-bias update after each step. Default 0.001.</summary>
    public double BiasUpdateRate { get; set; } = 0.001;

    /// <summary>α of the sequence-wise balance loss. Default 0.0001.</summary>
    public double BalanceLossWeight { get; set; } = 0.0001;

    /// <summary>
    /// Folder for training checkpoints of the classifier (weights, best weights so far, optimizer state, position in the
    /// batch order, dropout generator); null for none. Not to be confused with <see cref="CheckpointDirectory"/>, a
    /// Hugging Face checkpoint the backbone starts from. Default null.
    /// </summary>
    public string? TrainingCheckpointDirectory { get; set; }

    /// <summary>Write a training checkpoint every this many steps (and at the last step, or when training stops early) when <see cref="TrainingCheckpointDirectory"/> is set; 0 never. Default 100.</summary>
    public int CheckpointEverySteps { get; set; } = 100;

    /// <summary>How many of the newest training checkpoints to keep (at least 1). Default 3.</summary>
    public int KeepCheckpoints { get; set; } = 3;

    /// <summary>
    /// Continue from a classifier training checkpoint: a checkpoint file, or a folder whose newest checkpoint is used (a
    /// folder with none starts fresh). The data, tokenizer, backbone, seed and options must be those of the interrupted
    /// run; <see cref="LanguageModelSteps"/> is not repeated (the checkpoint holds the adapted backbone). Default null.
    /// </summary>
    public string? ResumeFrom { get; set; }

    /// <summary>Log progress every this many steps (and after every evaluation). Default 10.</summary>
    public int LogEverySteps { get; set; } = 10;

    /// <summary>Receives every progress report. Default null.</summary>
    public IProgress<ClassificationProgress>? Progress { get; set; }

    /// <summary>A backbone small enough to train on two CPU cores in a minute per thousand short rows: 2 blocks (one dense, one MoE with 4 routed experts of which 2 are active, plus a shared expert), hidden size 64, byte-level vocabulary.</summary>
    public static MoeModelConfig DefaultModel => new()
    {
        HiddenSize = 64, IntermediateSize = 192, MoeIntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4,
        NumKeyValueHeads = 4, KvLoraRank = 32, QLoraRank = null, QkRopeHeadDim = 8, QkNopeHeadDim = 16, VHeadDim = 16,
        NRoutedExperts = 4, NumExpertsPerTok = 2, MaxPositionEmbeddings = 256,
    };

    /// <summary>Checks every option's range before training; throws <see cref="ArgumentOutOfRangeException"/> naming the option.</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, object value, string rule)
        {
            if (!ok) throw new ArgumentOutOfRangeException(name, value, $"MoeTextClassificationOptions.{name} {rule}, got {value}.");
        }
        Check(!string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), LabelColumnName ?? "null", "must name a column");
        Check(!string.IsNullOrWhiteSpace(TextColumnName), nameof(TextColumnName), TextColumnName ?? "null", "must name a column");
        Check(SecondTextColumnName == null || !string.IsNullOrWhiteSpace(SecondTextColumnName), nameof(SecondTextColumnName), SecondTextColumnName ?? "null", "must be null or name a column");
        Check(!string.IsNullOrWhiteSpace(PredictedLabelColumnName), nameof(PredictedLabelColumnName), PredictedLabelColumnName ?? "null", "must name a column");
        Check(!string.IsNullOrWhiteSpace(ScoreColumnName) && ScoreColumnName != PredictedLabelColumnName, nameof(ScoreColumnName), ScoreColumnName ?? "null", "must name a column other than PredictedLabelColumnName");
        int sources = (LanguageModelPath != null ? 1 : 0) + (CheckpointDirectory != null ? 1 : 0) + (InitialModel != null ? 1 : 0);
        Check(sources <= 1, nameof(LanguageModelPath), sources, "LanguageModelPath, CheckpointDirectory and InitialModel exclude each other: set at most one");
        Check(MaxLength >= 4, nameof(MaxLength), MaxLength, "must be at least 4");
        Check(Enum.IsDefined(Pooling), nameof(Pooling), Pooling, "must be LastToken or Mean");
        Check(Dropout >= 0 && Dropout < 1, nameof(Dropout), Dropout, "must be in [0, 1)");
        Check(HeadHiddenSize >= 0 && HeadHiddenSize <= 65536, nameof(HeadHiddenSize), HeadHiddenSize, "must be between 0 and 65536");
        Check(BatchSize >= 1 && BatchSize <= 1 << 16, nameof(BatchSize), BatchSize, "must be between 1 and 65,536");
        this.ValidateEngineOptions(Check);
        Check(Epochs >= 1 && Epochs <= 100_000, nameof(Epochs), Epochs, "must be between 1 and 100,000");
        Check(MaxSteps >= 0, nameof(MaxSteps), MaxSteps, "must not be negative");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), LearningRate, "must be positive and finite");
        Check(MinLearningRateRatio >= 0 && MinLearningRateRatio <= 1, nameof(MinLearningRateRatio), MinLearningRateRatio, "must be between 0 and 1");
        Check(WarmupSteps >= 0, nameof(WarmupSteps), WarmupSteps, "must not be negative");
        Check(WeightDecay >= 0 && WeightDecay <= 10, nameof(WeightDecay), WeightDecay, "must be between 0 and 10");
        Check(BackboneLearningRateScale > 0 && BackboneLearningRateScale <= 1, nameof(BackboneLearningRateScale), BackboneLearningRateScale, "must be in (0, 1]");
        Check(LanguageModelSteps >= 0, nameof(LanguageModelSteps), LanguageModelSteps, "must not be negative");
        Check(Beta1 >= 0 && Beta1 < 1, nameof(Beta1), Beta1, "must be in [0, 1)");
        Check(Beta2 >= 0 && Beta2 < 1, nameof(Beta2), Beta2, "must be in [0, 1)");
        Check(GradientClipNorm >= 0 && double.IsFinite(GradientClipNorm), nameof(GradientClipNorm), GradientClipNorm, "must be finite and not negative");
        Check(ValidationFraction >= 0 && ValidationFraction <= 0.5, nameof(ValidationFraction), ValidationFraction, "must be between 0 and 0.5");
        Check(EarlyStoppingPatience >= 0, nameof(EarlyStoppingPatience), EarlyStoppingPatience, "must not be negative");
        Check(EvaluateEverySteps >= 0, nameof(EvaluateEverySteps), EvaluateEverySteps, "must not be negative");
        Check(CapacityFactor >= 1 && CapacityFactor <= 1024, nameof(CapacityFactor), CapacityFactor, "must be between 1 and 1024");
        Check(Enum.IsDefined(Kernels), nameof(Kernels), Kernels, "must be Auto, Fused or Managed");
        Check(Enum.IsDefined(ExpertDispatch), nameof(ExpertDispatch), ExpertDispatch, "must be Auto, Dropless or CapacityPadded");
        Check(BiasUpdateRate >= 0 && BiasUpdateRate <= 1, nameof(BiasUpdateRate), BiasUpdateRate, "must be between 0 and 1");
        Check(BalanceLossWeight >= 0 && BalanceLossWeight <= 1, nameof(BalanceLossWeight), BalanceLossWeight, "must be between 0 and 1");
        Check(LogEverySteps >= 1, nameof(LogEverySteps), LogEverySteps, "must be at least 1");
        Check(TrainingCheckpointDirectory == null || !string.IsNullOrWhiteSpace(TrainingCheckpointDirectory), nameof(TrainingCheckpointDirectory), TrainingCheckpointDirectory ?? "", "must be null or name a folder");
        Check(CheckpointEverySteps >= 0, nameof(CheckpointEverySteps), CheckpointEverySteps, "must not be negative");
        Check(KeepCheckpoints >= 1, nameof(KeepCheckpoints), KeepCheckpoints, "must be at least 1");
        Check(ResumeFrom == null || File.Exists(ResumeFrom) || Directory.Exists(ResumeFrom), nameof(ResumeFrom), ResumeFrom ?? "", "must name an existing checkpoint file or folder");
        Check(EnsembleSize >= 1 && EnsembleSize <= 16, nameof(EnsembleSize), EnsembleSize, "must be between 1 and 16");
        Check(EnsembleSize == 1 || ResumeFrom == null || Directory.Exists(ResumeFrom), nameof(ResumeFrom), ResumeFrom ?? "", "must name the training-checkpoint folder (not a file) when EnsembleSize is above 1: each member resumes from its own sub-folder");
        Check(DeviceId is null or >= 0, nameof(DeviceId), DeviceId ?? -1, "must not be negative");
    }
}
