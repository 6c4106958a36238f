namespace MLNet.MoE;

/// <summary>
/// Options of the Mixture-of-Experts language-model trainer. Defaults train a small model on a CPU in minutes. The
/// options both trainers take are declared on <see cref="MoeTrainerOptions"/>.
/// </summary>
public sealed class LanguageModelOptions : MoeTrainerOptions
{
    /// <summary>Creates the options with the language-model trainer's defaults.</summary>
    public LanguageModelOptions()
        : base(batchSize: 16, maxSteps: 300, learningRate: 3e-3, warmupSteps: 30, weightDecay: 0.1, beta2: 0.95,
            validationFraction: 0.05, precision: TrainingPrecision.Auto)
    {
    }

    /// <summary>The token-id column (a vector of Int32, from <c>TokenizeForMoe</c>). Default "Tokens".</summary>
    public string TokenColumnName { get; set; } = "Tokens";

    /// <summary>A text column of prompts; when set, the transformer adds a <c>GeneratedText</c> column. Default null.</summary>
    public string? PromptColumnName { get; set; }

    /// <summary>
    /// Start from this language model's weights instead of random ones (fine-tuning an imported, loaded or trained
    /// model); its config replaces <see cref="MoeTrainerOptions.Model"/>. The weights are copied: the given transformer is not changed.
    /// </summary>
    public LanguageModelTransformer? InitialModel { get; set; }

    /// <summary>
    /// Fine-tune <see cref="InitialModel"/> with LoRA adapters instead of all its weights (null for full fine-tuning,
    /// the default). The base's weights are then not copied: they stay frozen, in their own type and on their own device
    /// (load a checkpoint in bfloat16 on the GPU with <c>LoadHuggingFace</c>), shared with <see cref="InitialModel"/> and
    /// bitwise untouched; only the adapters get gradients and optimizer state. The routing biases do not move and the
    /// multi-token-prediction loss is off (Hugging Face checkpoints carry no trained MTP modules). The trained transformer
    /// holds the base and the adapters; it does not dispose the base, which stays <see cref="InitialModel"/>'s.
    /// </summary>
    public LoraOptions? Lora { get; set; }

    /// <summary>Tokens per training window (2 to max_position_embeddings). Default 128.</summary>
    public int ContextLength { get; set; } = 128;

    /// <summary>Passes over the training tokens, used when <see cref="MoeTrainerOptions.MaxSteps"/> is 0. Default 1.</summary>
    public double Epochs { get; set; } = 1;

    /// <summary>λ of the multi-token-prediction loss (when the model has MTP modules). Default 0.3.</summary>
    public double MultiTokenPredictionWeight { get; set; } = 0.3;

    /// <summary>Folder for training checkpoints (weights, optimizer state, schedule position, sampler state, balance biases); null for none. Default null.</summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>Receives a report every <see cref="MoeTrainerOptions.LogEverySteps"/> steps and at the end. Default null.</summary>
    public IProgress<LanguageModelProgress>? Progress { get; set; }

    /// <summary>How the transformer generates text for the prompt column.</summary>
    public GenerationOptions Generation { get; set; } = new();

    /// <summary>Checks every option's range before training; throws <see cref="ArgumentOutOfRangeException"/> naming the option.</summary>
    public override void Validate()
    {
        Check(!string.IsNullOrWhiteSpace(TokenColumnName), nameof(TokenColumnName), TokenColumnName ?? "null", "must name a column");
        Check(ContextLength >= 2 && ContextLength <= 1 << 20, nameof(ContextLength), ContextLength, "must be between 2 and 1,048,576");
        ValidateSharedOptions();
        Check((long)BatchSize * ContextLength <= 1 << 27, nameof(BatchSize), BatchSize, $"× ContextLength ({ContextLength}) must not exceed 134,217,728 tokens a step");
        Check(double.IsFinite(Epochs) && Epochs >= 0 && Epochs <= 100_000, nameof(Epochs), Epochs, "must be finite, between 0 and 100,000");
        Check(MaxSteps > 0 || Epochs > 0, nameof(Epochs), Epochs, "must be positive when MaxSteps is 0");
        Check(MultiTokenPredictionWeight >= 0 && MultiTokenPredictionWeight <= 100, nameof(MultiTokenPredictionWeight), MultiTokenPredictionWeight, "must be between 0 and 100");
        Check(Generation != null, nameof(Generation), "null", "must be set");
        Generation!.Validate();
        if (Lora != null)
        {
            Check(InitialModel != null, nameof(Lora), "set", "needs InitialModel: LoRA adapts a base model (an imported checkpoint, a loaded or trained language model)");
            Lora.Validate("LanguageModelOptions.Lora");
        }
        var model = InitialModel?.Config ?? Model;
        if (model != null) Check(ContextLength <= model.MaxPositionEmbeddings, nameof(ContextLength), ContextLength, $"must not exceed the model's max_position_embeddings ({model.MaxPositionEmbeddings})");
    }
}
