namespace MLNet.MoE;

/// <summary>
/// What scoring and generation need from a language model's backend: full passes that score rows, and a cached,
/// step-by-step decoding session. Implemented by the TorchSharp model (<c>TorchLanguageModelRunner</c> in MLNet.MoE)
/// and by an ONNX Runtime session (<c>OnnxDecoder</c> in MLNet.MoE.Onnx). Everything above it (windows, padded
/// batches, the generation loop, the output columns, the model-zip header) is written once, in
/// <see cref="LanguageModelScoring"/>, <see cref="TextGeneration"/> and <see cref="LanguageModelTransformerBase"/>,
/// so both backends behave the same.
/// </summary>
internal interface ILanguageModelRunner : IDisposable
{
    /// <summary>Ids the model has logits for.</summary>
    int VocabSize { get; }

    /// <summary>Most positions one sequence may hold (max_position_embeddings).</summary>
    int MaxPositions { get; }

    /// <summary>
    /// One forward pass over <paramref name="batch"/>: per row, the summed next-token cross-entropy (nats) of its first
    /// <see cref="ScoringBatch.ValidLengths"/> positions and how many of them were the most likely id.
    /// </summary>
    RowScores Score(ScoringBatch batch);

    /// <summary>Logits [rows, length, vocabulary] (flattened, float32) of one forward pass over <paramref name="ids"/> [rows × length].</summary>
    float[] Logits(long[] ids, int rows, int length);

    /// <summary>A decoding session with an empty key/value cache.</summary>
    IDecodingSession StartDecoding();
}
