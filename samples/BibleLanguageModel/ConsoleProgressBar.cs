using System.Globalization;
using MLNet.MoE.Training;

/// <summary>Draws a progress bar for the whole run (not just the current round) on one console line.</summary>
internal sealed class ConsoleProgressBar(int stepsBefore, int totalSteps) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value)
    {
        const int width = 30;
        int step = stepsBefore + value.Step;
        int filled = (int)Math.Round(width * (double)step / totalSteps);
        string bar = new string('#', filled) + new string('-', width - filled);
        string balance = string.Join(" ", value.ExpertLoadMaxOverMean.Select(kv => string.Format(CultureInfo.InvariantCulture, "L{0}:{1:F2}", kv.Key, kv.Value)));
        Console.Write(string.Format(CultureInfo.InvariantCulture, "\r[{0}] step {1}/{2}  loss {3:F3}  lr {4:G3}  {5:N0} tok/s  max/mean load {6}",
            bar, step, totalSteps, value.Loss, value.LearningRate, value.TokensPerSecond, balance));
    }
}
