
namespace MLNet.MoE;

/// <summary>
/// What every scenario's <c>TrainingOption</c> in a <c>.mbconfig</c> holds: the trainer, the tokenizer, the optimizer's
/// batch size, learning rate and warm-up, the held-out fraction and the seed. <see cref="TextClassificationTrainingOption"/>
/// and <see cref="LanguageModelTrainingOption"/> add their trainer's options.
/// </summary>
public abstract record ModelBuilderTrainingOption
{
    /// <summary>The tokenizer names <see cref="Tokenizer"/> may hold.</summary>
    public static IReadOnlyList<string> Tokenizers { get; } = new[] { "ByteLevel", "Gpt2" };

    /// <summary>The trainer: MoeTextClassification or LanguageModel.</summary>
    public required string Trainer { get; init; }

    /// <summary>ByteLevel (<see cref="MoeTokenizer.ByteLevel"/>) or Gpt2 (<see cref="MoeTokenizer.Gpt2"/>).</summary>
    public required string Tokenizer { get; init; }

    /// <summary>Rows per optimizer step (a language model: sequences of <c>ContextLength</c> tokens).</summary>
    public required int BatchSize { get; init; }

    /// <summary>Peak learning rate.</summary>
    public required double LearningRate { get; init; }

    /// <summary>Learning-rate warm-up steps.</summary>
    public required int WarmupSteps { get; init; }

    /// <summary>Share of the data held out for the metrics that the model's <c>Train</c> returns.</summary>
    public required double TestFraction { get; init; }

    /// <summary>Random seed of the split, the weights and the batch order (and a language model's sampling).</summary>
    public required int Seed { get; init; }

    /// <summary>The tokenizer that <see cref="Tokenizer"/> names.</summary>
    /// <exception cref="InvalidDataException"><see cref="Tokenizer"/> is not one of <see cref="Tokenizers"/>.</exception>
    public MoeTokenizer CreateTokenizer() => Tokenizer switch
    {
        "ByteLevel" => MoeTokenizer.ByteLevel(),
        "Gpt2" => MoeTokenizer.Gpt2(),
        var other => throw new InvalidDataException($"TrainingOption.Tokenizer must be {string.Join(" or ", Tokenizers)}, not '{other}'."),
    };
}
