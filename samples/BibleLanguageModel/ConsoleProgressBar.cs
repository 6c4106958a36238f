using System.Globalization;
using MLNet.MoE;

/// <summary>
/// Draws a progress bar for the whole run on one console line and notes each checkpoint on a line of its own. With
/// <paramref name="stopAfter"/> set, the first checkpoint at or after that step ends training, as an interruption would:
/// the checkpoint is written before its report arrives, so a later run resumes from it. The bar is redrawn in place
/// (<c>\r</c>) only when standard output is a terminal; redirected, it is a plain line every few seconds and at each checkpoint.
/// </summary>
internal sealed class ConsoleProgressBar(int? stopAfter) : IProgress<LanguageModelProgress>
{
    private readonly bool interactive = !Console.IsOutputRedirected;
    private TimeSpan lastLine = TimeSpan.FromSeconds(-10);

    public void Report(LanguageModelProgress value)
    {
        const int width = 30;
        int filled = (int)Math.Round(width * (double)value.Step / value.TotalSteps);
        string bar = new string('#', filled) + new string('-', width - filled);
        string balance = string.Join(" ", value.ExpertLoadMaxOverMean.Select(kv => string.Format(CultureInfo.InvariantCulture, "L{0}:{1:F2}", kv.Key, kv.Value)));
        string line = string.Format(CultureInfo.InvariantCulture, "[{0}] step {1}/{2}  loss {3:F3}  lr {4:G3}  {5:N0} tok/s  max/mean load {6}",
            bar, value.Step, value.TotalSteps, value.Loss, value.LearningRate, value.TokensPerSecond, balance);
        if (interactive)
        {
            Console.Write("\r" + line);
        }
        else if (value.CheckpointPath != null || value.Step == value.TotalSteps || value.Elapsed - lastLine >= TimeSpan.FromSeconds(5))
        {
            lastLine = value.Elapsed;
            Console.WriteLine(line);
        }
        if (value.CheckpointPath == null) return;
        if (interactive) Console.WriteLine();
        Console.WriteLine($"Checkpoint at step {value.Step}: {value.CheckpointPath}");
        if (stopAfter is int stop && value.Step >= stop)
            throw new OperationCanceledException($"Stopped after the checkpoint at step {value.Step} (--stop-after {stop}); run the same command again to resume.");
    }
}
