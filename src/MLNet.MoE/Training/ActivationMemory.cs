namespace MLNet.MoE;

/// <summary>
/// An estimate, made before the model exists, of the memory a language-model training run needs: the weights with
/// their gradients and AdamW moments, the activations a step keeps for its backward pass, and the validation passes at
/// the end. Its part that grows fastest is the attention: the CPU's scaled-dot-product attention kernels that avoid
/// materializing the scores need one head width for queries, keys and values, which multi-head latent attention does not
/// have (qk_nope + qk_rope against v), so the math kernel holds rows × heads × T × T scores and their softmax for every
/// block whose backward pass is pending. The figures are estimates from below: a run refused by them cannot fit; one
/// that passes may still need more.
/// </summary>
internal static class ActivationMemory
{
    /// <summary>Bytes per parameter while training: the float32 weight, its gradient and AdamW's two moments.</summary>
    private const long BytesPerParameter = 16;

    /// <summary>
    /// The bytes needed to train <paramref name="config"/> on steps of <paramref name="rows"/> windows of
    /// <paramref name="window"/> tokens, each activation <paramref name="bytesPerValue"/> bytes, then to score validation
    /// windows of <paramref name="validationWindow"/> tokens, <paramref name="validationRows"/> a pass.
    /// </summary>
    public static Estimate ForTraining(MoeModelConfig config, long rows, long window, long validationRows, long validationWindow, int bytesPerValue,
        bool recompute, int lastBlocksNotRecomputed, bool scoresMaterialized)
    {
        int blocks = config.NumHiddenLayers + config.NumNextnPredictLayers;
        int keptCount = Math.Min(lastBlocksNotRecomputed, config.NumHiddenLayers);
        int firstKept = config.NumHiddenLayers - keptCount;
        long perToken = 0, widest = 0, keptBlocks = 0;
        for (int block = 0; block < blocks; block++)
        {
            long values = ValuesPerToken(config, config.IsMoeLayer(block));
            perToken += values;
            widest = Math.Max(widest, values);
            if (block >= firstKept && block < config.NumHiddenLayers) keptBlocks += values;
        }
        // Recomputation keeps one hidden state per recomputed block and rebuilds one block's activations at a time
        // (after the blocks that keep theirs have freed them, so the larger of the two counts).
        double kept = recompute ? (double)config.HiddenSize * (blocks - keptCount) + Math.Max(widest, keptBlocks) : perToken;
        // Logits and their gradient in float32, for the cross-entropy.
        double logits = 2.0 * config.VocabSize * sizeof(float);
        double training = rows * window * (kept * bytesPerValue + logits)
            + (scoresMaterialized ? Scores(config, rows, window, bytesPerValue) * (recompute ? 1 : blocks) : 0);
        // Validation: no gradients, one block alive at a time.
        double validation = validationRows * validationWindow * (widest * bytesPerValue + config.VocabSize * (double)sizeof(float))
            + (scoresMaterialized ? Scores(config, validationRows, validationWindow, bytesPerValue) : 0);
        double attention = scoresMaterialized ? Scores(config, rows, window, bytesPerValue) : 0;
        return new Estimate(config.ParameterCount() * (double)BytesPerParameter + Math.Max(training, validation), attention);
    }

    /// <summary>One block's attention scores and their softmax for <paramref name="rows"/> × heads × T × T.</summary>
    private static double Scores(MoeModelConfig config, long rows, long window, int bytesPerValue) =>
        2.0 * rows * config.NumAttentionHeads * window * window * bytesPerValue;

    /// <summary>The values one token keeps in one block for the backward pass: norms, projections, latents and SwiGLU widths.</summary>
    private static long ValuesPerToken(MoeModelConfig config, bool moe)
    {
        long heads = config.NumAttentionHeads;
        long attention = 3L * config.HiddenSize + 2L * (config.QLoraRank ?? 0) + 3 * heads * config.QkHeadDim
            + 2L * config.KvLoraRank + config.QkRopeHeadDim + heads * (config.QkNopeHeadDim + 2L * config.VHeadDim);
        long feedForward = moe
            ? 3L * config.MoeIntermediateSize * (config.NumExpertsPerTok + config.NSharedExperts) + config.NRoutedExperts + 2L * config.HiddenSize
            : 3L * config.IntermediateSize + 2L * config.HiddenSize;
        return attention + feedForward;
    }

    /// <summary>An estimate in bytes: everything, and of it one block's attention scores of a training step.</summary>
    public readonly record struct Estimate(double TotalBytes, double AttentionBytes);
}
