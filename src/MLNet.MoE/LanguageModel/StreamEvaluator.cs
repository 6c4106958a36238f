namespace MLNet.MoE;

/// <summary>Next-token cross-entropy of a <see cref="MoeCausalLM"/> over a whole token stream (training's validation), through the shared <see cref="LanguageModelScoring"/>.</summary>
internal static class StreamEvaluator
{
    /// <summary>Returns the mean cross-entropy (nats per predicted token) and the number of predicted tokens; NaN and 0 for a stream shorter than 2 tokens.</summary>
    public static (double CrossEntropy, long Tokens) Evaluate(MoeCausalLM model, IReadOnlyList<int> stream, int contextLength, int windowsPerPass, LoraAdapters? adapters = null)
    {
        var score = Score(model, stream, contextLength, windowsPerPass, adapters);
        return (score.MeanCrossEntropy, score.Tokens);
    }

    /// <summary>
    /// Scores every token of <paramref name="stream"/> after the first in consecutive windows of
    /// <paramref name="contextLength"/> inputs, <paramref name="windowsPerPass"/> windows a pass, on the model's device.
    /// </summary>
    public static StreamScore Score(MoeCausalLM model, IReadOnlyList<int> stream, int contextLength, int windowsPerPass, LoraAdapters? adapters = null)
    {
        using var runner = new TorchLanguageModelRunner(model, ownsModel: false, adapters);
        return LanguageModelScoring.ScoreStream(runner, stream, contextLength, windowsPerPass);
    }
}
