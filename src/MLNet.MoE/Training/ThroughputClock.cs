using System.Diagnostics;

namespace MLNet.MoE;

/// <summary>The time of a training run (added to what a resumed run trained before) and of its open report window.</summary>
internal sealed class ThroughputClock
{
    private readonly Stopwatch run = Stopwatch.StartNew();
    private readonly Stopwatch window = Stopwatch.StartNew();
    private readonly TimeSpan before;

    /// <summary>Starts both clocks; <paramref name="before"/> is the training time of the run this one resumes.</summary>
    public ThroughputClock(TimeSpan before) => this.before = before;

    /// <summary>Training time so far, earlier runs included.</summary>
    public TimeSpan Elapsed => before + run.Elapsed;

    /// <summary>Training time of this process alone.</summary>
    public TimeSpan ElapsedHere => run.Elapsed;

    /// <summary><paramref name="count"/> per second of the open window.</summary>
    public double PerSecond(double count) => count / Math.Max(TrainingNumerics.MinimumSeconds, window.Elapsed.TotalSeconds);

    /// <summary>Opens a new report window.</summary>
    public void RestartWindow() => window.Restart();
}
