namespace MLNet.MoE;

/// <summary>Picks the next token from logits: greedy at temperature 0, else temperature / top-k / top-p sampling with a seeded generator.</summary>
internal sealed class TokenSampler
{
    private readonly double temperature;
    private readonly int topK;
    private readonly double topP;
    private readonly Random random;

    /// <summary>Creates a sampler; <paramref name="temperature"/> 0 is greedy, <paramref name="topK"/> 0 and <paramref name="topP"/> 1 turn those filters off.</summary>
    public TokenSampler(double temperature, int topK, double topP, int seed)
    {
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        random = new Random(seed);
    }

    /// <summary>The chosen token id for one row of logits.</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (temperature == 0) return ArgMax(logits);
        int vocab = logits.Length;
        var order = Enumerable.Range(0, vocab).ToArray();
        var values = logits.ToArray();
        Array.Sort(values.Select(v => -v).ToArray(), order);
        int keep = topK > 0 ? Math.Min(topK, vocab) : vocab;
        double max = logits[order[0]];
        var probabilities = new double[keep];
        double total = 0;
        for (int i = 0; i < keep; i++)
        {
            probabilities[i] = Math.Exp((logits[order[i]] - max) / temperature);
            total += probabilities[i];
        }
        if (topP < 1)
        {
            double cumulative = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++)
            {
                cumulative += probabilities[i] / total;
                if (cumulative >= topP)
                {
                    cut = i + 1;
                    break;
                }
            }
            keep = cut;
            total = probabilities.Take(keep).Sum();
        }
        double draw = random.NextDouble() * total;
        for (int i = 0; i < keep; i++)
        {
            draw -= probabilities[i];
            if (draw <= 0) return order[i];
        }
        return order[keep - 1];
    }

    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best]) best = i;
        }
        return best;
    }
}
