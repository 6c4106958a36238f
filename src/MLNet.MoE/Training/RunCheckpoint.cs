namespace MLNet.MoE;

/// <summary>
/// What every training checkpoint records about its run: the model config it was made with, a fingerprint of the
/// data, the steps completed and the progress reports so far. <see cref="LanguageModelCheckpoint"/> and
/// <see cref="TextClassificationCheckpoint"/> add their task's own state.
/// </summary>
/// <typeparam name="TProgress">The task's progress report.</typeparam>
internal abstract class RunCheckpoint<TProgress>
{
    /// <summary>The model (or backbone) config JSON the checkpoint was made with.</summary>
    public required string ConfigJson { get; init; }

    /// <summary>Fingerprint of the training data (and, for the classifier, of the validation rows).</summary>
    public required DataFingerprint Data { get; init; }

    /// <summary>Optimizer steps completed.</summary>
    public required int Step { get; init; }

    /// <summary>Reports made so far.</summary>
    public required IReadOnlyList<TProgress> History { get; init; }
}
