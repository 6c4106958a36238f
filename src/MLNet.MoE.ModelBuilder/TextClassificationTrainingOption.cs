namespace MLNet.MoE;

/// <summary>
/// The <c>TrainingOption</c> of a text-classification <c>.mbconfig</c>: the options of the <c>MoeTextClassification</c>
/// trainer (see <c>MoeTextClassificationOptions</c>) besides those every scenario has.
/// </summary>
public sealed record TextClassificationTrainingOption : ModelBuilderTrainingOption
{
    /// <summary>Passes over the training rows; 0 derives them from the number of rows, as <c>MoeTextClassificationOptions.Epochs</c> 0 does.</summary>
    public required int Epochs { get; init; }

    /// <summary>Tokens per row, end-of-text tokens included.</summary>
    public required int MaxLength { get; init; }

    /// <summary>Share of the training rows held out for early stopping (0: none).</summary>
    public required double ValidationFraction { get; init; }

    /// <summary>
    /// Buckets of the classifier's wide branch of hashed word and character n-grams (<c>MoeTextClassificationOptions.NgramBuckets</c>);
    /// 0 turns it off. Default (when the file leaves it out) 262,144, the trainer's default.
    /// </summary>
    public int NgramBuckets { get; init; } = 1 << 18;
}
