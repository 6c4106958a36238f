namespace MLNet.MoE.Tests.Onnx;

/// <summary>Greedy decoding with ONNX Runtime through the exported cache: the prompt once, then one token per step.</summary>
internal static class OnnxGreedy
{
    public static int[] Generate(string modelPath, IReadOnlyList<int> prompt, int maxNewTokens)
    {
        using var session = new OnnxDecoderSession(modelPath);
        var generated = new List<int>();
        long[] feed = prompt.Select(t => (long)t).ToArray();
        for (int i = 0; i < maxNewTokens; i++)
        {
            var (logits, vocab) = session.Run(feed, feed.Length);
            var last = logits.AsSpan(logits.Length - vocab, vocab);
            int best = 0;
            for (int v = 1; v < vocab; v++)
            {
                if (last[v] > last[best]) best = v;
            }
            generated.Add(best);
            feed = new[] { (long)best };
        }
        return generated.ToArray();
    }
}
