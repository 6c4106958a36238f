namespace MLNet.MoE;

/// <summary>Linear warm-up to the peak learning rate, then cosine decay to <c>minRatio × peak</c> at the last step.</summary>
internal sealed class LearningRateSchedule
{
    private readonly double peak;
    private readonly double minRatio;
    private readonly int warmupSteps;
    private readonly int totalSteps;

    /// <summary>Creates the schedule.</summary>
    public LearningRateSchedule(double peak, double minRatio, int warmupSteps, int totalSteps)
    {
        this.peak = peak;
        this.minRatio = minRatio;
        this.warmupSteps = Math.Min(warmupSteps, totalSteps);
        this.totalSteps = totalSteps;
    }

    /// <summary>The learning rate of 1-based step <paramref name="step"/>.</summary>
    public double At(int step)
    {
        if (step <= warmupSteps) return peak * step / Math.Max(1, warmupSteps);
        double progress = (double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps);
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * Math.Clamp(progress, 0, 1)));
        return peak * (minRatio + (1 - minRatio) * cosine);
    }
}
