using System.Globalization;

namespace MLNet.MoE;

/// <summary>One log line per training progress report.</summary>
internal static class ProgressText
{
    public static string Format(LanguageModelProgress p)
    {
        var text = string.Format(CultureInfo.InvariantCulture, "step {0}/{1}  loss {2:F4}  lr {3:E2}  {4:N0} tokens/s", p.Step, p.TotalSteps, p.Loss, p.LearningRate, p.TokensPerSecond);
        if (p.ExpertLoadMaxOverMean.Count > 0)
        {
            text += "  expert load max/mean " + string.Join(" ", p.ExpertLoadMaxOverMean.Select(kv => string.Format(CultureInfo.InvariantCulture, "L{0}:{1:F2}", kv.Key, kv.Value)));
            text += string.Format(CultureInfo.InvariantCulture, "  dropped {0:P2}", p.DroppedFraction);
        }
        if (p.ValidationLoss is double v) text += string.Format(CultureInfo.InvariantCulture, "  validation loss {0:F4} (perplexity {1:F3})", v, Math.Exp(v));
        return text;
    }
}
