namespace MLNet.MoE;

/// <summary>
/// Options of the Mixture-of-Experts text-classification trainer. The backbone comes from at most one of
/// <see cref="LanguageModelPath"/>, <see cref="HuggingFaceCheckpointDirectory"/> and <see cref="InitialModel"/>; with none of them
/// it is a new model with random weights (<see cref="MoeTrainerOptions.Model"/>, default <see cref="DefaultModel"/>). The
/// options both trainers take are declared on <see cref="MoeTrainerOptions"/>.
/// </summary>
public sealed class MoeTextClassificationOptions : MoeTrainerOptions
{
    /// <summary>Creates the options with the text-classification trainer's defaults.</summary>
    public MoeTextClassificationOptions()
        : base(batchSize: 32, maxSteps: 0, learningRate: 1e-3, warmupSteps: 20, weightDecay: 0.01, beta2: 0.999,
            validationFraction: 0.1, precision: TrainingPrecision.Float32)
    {
    }

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

    /// <summary>A language-model <c>.zip</c> saved by this package (<c>mlContext.Model.Save</c> of a pipeline ending in a <c>LanguageModelTransformer</c>): its weights and tokenizer become the backbone's. Default null.</summary>
    public string? LanguageModelPath { get; set; }

    /// <summary>
    /// A Hugging Face DeepseekV3 checkpoint folder (config.json + safetensors) whose weights start the backbone; the
    /// tokenizer is <see cref="MoeTrainerOptions.Tokenizer"/>, else the folder's (mlnet_moe_tokenizer.bin, else
    /// tokenizer.json). Not to be confused with <see cref="TrainingCheckpointDirectory"/>, where training writes its own
    /// checkpoints. Default null.
    /// </summary>
    public string? HuggingFaceCheckpointDirectory { get; set; }

    /// <summary>A language model in memory whose weights start the backbone (copied: the given model is not changed) and whose tokenizer is the default. Default null.</summary>
    public LanguageModelTransformer? InitialModel { get; set; }

    /// <summary>
    /// Fine-tune the pre-trained backbone (<see cref="LanguageModelPath"/>, <see cref="HuggingFaceCheckpointDirectory"/>
    /// or <see cref="InitialModel"/>) with LoRA adapters instead of all its weights: the backbone stays frozen while the
    /// adapters and the head train, and when training ends the adapters are merged into the backbone's weights, so the
    /// classifier saves, loads and exports as any other. Null (the default) trains the whole backbone.
    /// </summary>
    public LoraOptions? Lora { get; set; }

    /// <summary>Tokens per row at most, end-of-text tokens included (4 to the model's max_position_embeddings, at most 1,048,576); longer rows keep their first tokens. Default 128.</summary>
    public int MaxLength { get; set; } = 128;

    /// <summary>How hidden states become the row's features. Default <see cref="TextPooling.Mean"/>.</summary>
    public TextPooling Pooling { get; set; } = TextPooling.Mean;

    /// <summary>
    /// Width of a dense tanh layer between the pooled features and the classification head (as BERT's pooler); 0 makes the
    /// head one linear layer on the pooled features. Default 0.
    /// </summary>
    public int HeadHiddenSize { get; set; }

    /// <summary>The most buckets <see cref="NgramBuckets"/> takes: 2^24.</summary>
    public const int MaxNgramBuckets = 1 << 24;

    /// <summary>
    /// Buckets of the wide branch: the row's lower-cased word unigrams and bigrams and character trigrams, hashed into this
    /// many buckets, each with one trained weight per class, added to the logits of the Mixture-of-Experts representation
    /// and trained jointly with it (a linear bag of n-grams beside the deep model, as in wide-and-deep models). The branch
    /// reads the whole text (up to 20,000 characters), not only the first <see cref="MaxLength"/> tokens. 0 turns it off;
    /// a classifier with the branch is not exported to ONNX. Default 262,144 (2^18: 1 MiB of weights per class).
    /// </summary>
    public int NgramBuckets { get; set; } = 1 << 18;

    /// <summary>
    /// Multiplies the learning rate of the wide branch's weights (0 to 1,000): a linear model of sparse features needs larger
    /// steps than the network, since each weight moves only in the steps whose rows hold its n-grams. Default 30 (30
    /// scored 1.1 to 1.4 points above 10 on the development sets of docs/text-classification.md).
    /// </summary>
    public double NgramLearningRateScale { get; set; } = 30;

    /// <summary>Dropout on the features entering the classification head while training (0 to below 1). Default 0.1.</summary>
    public double Dropout { get; set; } = 0.1;

    /// <summary>The row passes <see cref="Epochs"/> 0 aims at: epochs × training rows, about 40,000.</summary>
    public const int RowPassesPerTraining = 40_000;

    /// <summary>
    /// Passes over the training rows at most (early stopping may end sooner); used when <see cref="MoeTrainerOptions.MaxSteps"/>
    /// is 0. 0 derives them from the number of training rows: enough epochs for about <see cref="RowPassesPerTraining"/>
    /// row passes, between 2 and 10 (10 up to 4,000 rows, 3 for 13,500), which keeps a large set's training time bounded
    /// while a small set gets the passes its wide branch needs. Default 0.
    /// </summary>
    public int Epochs { get; set; }

    /// <summary>The epochs a run over <paramref name="trainingRows"/> rows trains: <see cref="Epochs"/>, or when it is 0 the derived number.</summary>
    internal int EpochsFor(int trainingRows) =>
        Epochs > 0 ? Epochs : Math.Clamp((RowPassesPerTraining + Math.Max(1, trainingRows) - 1) / Math.Max(1, trainingRows), 2, 10);

    /// <summary>
    /// Multiplies the learning rate of the backbone (everything but the classification head), in (0, 1]: below 1 a
    /// pre-trained backbone moves less than the freshly initialised head. Default 1.
    /// </summary>
    public double BackboneLearningRateScale { get; set; } = 1.0;

    /// <summary>
    /// Steps of language-model training of the backbone on the training rows' own text before the classifier is trained
    /// (windows of <see cref="MaxLength"/> tokens, <see cref="MoeTrainerOptions.BatchSize"/> per step, at <see cref="MoeTrainerOptions.LearningRate"/>): adapts a
    /// backbone pre-trained on other text to the task's words. Only the rows the classifier trains on are read, never the
    /// validation split. Default 0 (none).
    /// </summary>
    public int LanguageModelSteps { get; set; }

    /// <summary>Stop after this many evaluations without a lower validation loss; 0 never stops early. Default 3.</summary>
    public int EarlyStoppingPatience { get; set; } = 3;

    /// <summary>Evaluate on the validation rows every this many steps; 0 evaluates at the end of every epoch. Default 0.</summary>
    public int EvaluateEverySteps { get; set; }

    /// <summary>
    /// Classifiers trained and averaged as an ensemble (1 to 16). Member <c>m</c> (1-based) is the classifier a single
    /// training with seed <see cref="MoeTrainerOptions.Seed"/> + m − 1 makes (its own head weights, random backbone if any, batch order and
    /// dropout masks) on the same rows and validation split; the transformer's probabilities are the mean of the
    /// members'. Fine-tuning runs from one small data set vary by a point or more of accuracy with the seed, and their
    /// average is steadier and usually more accurate than one of them, at that many times the training and scoring cost.
    /// With <see cref="TrainingCheckpointDirectory"/>, each member checkpoints into its own sub-folder (<c>member-01</c>,
    /// ...), and <see cref="MoeTrainerOptions.ResumeFrom"/> takes that folder: finished members are reloaded, an interrupted one continues.
    /// An ensemble is saved and loaded in the model zip like one classifier; ONNX export takes single classifiers only.
    /// Default 1.
    /// </summary>
    public int EnsembleSize { get; set; } = 1;

    /// <summary>
    /// Folder for training checkpoints of the classifier (weights, best weights so far, optimizer state, position in the
    /// batch order, dropout generator); null for none. Not to be confused with <see cref="HuggingFaceCheckpointDirectory"/>,
    /// a Hugging Face checkpoint the backbone starts from. Default null.
    /// </summary>
    public string? TrainingCheckpointDirectory { get; set; }

    /// <summary>Receives every progress report. Default null.</summary>
    public IProgress<TextClassificationProgress>? Progress { get; set; }

    /// <summary>A backbone small enough to train on two CPU cores in a minute per thousand short rows: 2 blocks (one dense, one MoE with 4 routed experts of which 2 are active, plus a shared expert), hidden size 64, byte-level vocabulary.</summary>
    public static MoeModelConfig DefaultModel => new()
    {
        HiddenSize = 64, IntermediateSize = 192, MoeIntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4,
        NumKeyValueHeads = 4, KvLoraRank = 32, QLoraRank = null, QkRopeHeadDim = 8, QkNopeHeadDim = 16, VHeadDim = 16,
        NRoutedExperts = 4, NumExpertsPerTok = 2, MaxPositionEmbeddings = 256,
    };

    /// <summary>Checks every option's range before training; throws <see cref="ArgumentOutOfRangeException"/> naming the option.</summary>
    public override void Validate()
    {
        Check(!string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), LabelColumnName ?? "null", "must name a column");
        Check(!string.IsNullOrWhiteSpace(TextColumnName), nameof(TextColumnName), TextColumnName ?? "null", "must name a column");
        Check(SecondTextColumnName == null || !string.IsNullOrWhiteSpace(SecondTextColumnName), nameof(SecondTextColumnName), SecondTextColumnName ?? "null", "must be null or name a column");
        Check(!string.IsNullOrWhiteSpace(PredictedLabelColumnName), nameof(PredictedLabelColumnName), PredictedLabelColumnName ?? "null", "must name a column");
        Check(!string.IsNullOrWhiteSpace(ScoreColumnName) && ScoreColumnName != PredictedLabelColumnName, nameof(ScoreColumnName), ScoreColumnName ?? "null", "must name a column other than PredictedLabelColumnName");
        int sources = (LanguageModelPath != null ? 1 : 0) + (HuggingFaceCheckpointDirectory != null ? 1 : 0) + (InitialModel != null ? 1 : 0);
        Check(sources <= 1, nameof(LanguageModelPath), sources, "LanguageModelPath, HuggingFaceCheckpointDirectory and InitialModel exclude each other: set at most one");
        if (Lora != null)
        {
            Check(sources == 1, nameof(Lora), "set", "needs a pre-trained backbone: set LanguageModelPath, HuggingFaceCheckpointDirectory or InitialModel");
            Lora.Validate("MoeTextClassificationOptions.Lora");
        }
        Check(MaxLength >= 4 && MaxLength <= 1 << 20, nameof(MaxLength), MaxLength, "must be between 4 and 1,048,576");
        Check(Enum.IsDefined(Pooling), nameof(Pooling), Pooling, "must be LastToken or Mean");
        Check(Dropout >= 0 && Dropout < 1, nameof(Dropout), Dropout, "must be in [0, 1)");
        Check(HeadHiddenSize >= 0 && HeadHiddenSize <= 65536, nameof(HeadHiddenSize), HeadHiddenSize, "must be between 0 and 65536");
        Check(NgramBuckets >= 0 && NgramBuckets <= MaxNgramBuckets, nameof(NgramBuckets), NgramBuckets, "must be between 0 and 16,777,216");
        Check(NgramLearningRateScale > 0 && NgramLearningRateScale <= 1000, nameof(NgramLearningRateScale), NgramLearningRateScale, "must be in (0, 1000]");
        ValidateSharedOptions();
        Check(Epochs >= 0 && Epochs <= 100_000, nameof(Epochs), Epochs, "must be between 0 (derived from the rows) and 100,000");
        Check(BackboneLearningRateScale > 0 && BackboneLearningRateScale <= 1, nameof(BackboneLearningRateScale), BackboneLearningRateScale, "must be in (0, 1]");
        Check(LanguageModelSteps >= 0, nameof(LanguageModelSteps), LanguageModelSteps, "must not be negative");
        Check(EarlyStoppingPatience >= 0, nameof(EarlyStoppingPatience), EarlyStoppingPatience, "must not be negative");
        Check(EvaluateEverySteps >= 0, nameof(EvaluateEverySteps), EvaluateEverySteps, "must not be negative");
        Check(TrainingCheckpointDirectory == null || !string.IsNullOrWhiteSpace(TrainingCheckpointDirectory), nameof(TrainingCheckpointDirectory), TrainingCheckpointDirectory ?? "", "must be null or name a folder");
        Check(EnsembleSize >= 1 && EnsembleSize <= 16, nameof(EnsembleSize), EnsembleSize, "must be between 1 and 16");
        Check(EnsembleSize == 1 || ResumeFrom == null || Directory.Exists(ResumeFrom), nameof(ResumeFrom), ResumeFrom ?? "", "must name the training-checkpoint folder (not a file) when EnsembleSize is above 1: each member resumes from its own sub-folder");
    }
}
