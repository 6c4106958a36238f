using System.Globalization;

/// <summary>
/// A one-line progress bar with rows per second and the time left: redrawn in place (<c>\r</c>) at most twice a second
/// when standard output is a terminal, else written as a plain line every five seconds, so redirected logs hold no carriage returns.
/// </summary>
internal sealed class ProgressLine(long totalRows, long rowsBefore)
{
    private readonly bool interactive = !Console.IsOutputRedirected;
    private TimeSpan lastDrawn = TimeSpan.FromSeconds(-10);

    public void Update(long rowsDone, long rowsThisRun, TimeSpan elapsed)
    {
        if (elapsed - lastDrawn < (interactive ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(5))) return;
        lastDrawn = elapsed;
        Draw(rowsDone, rowsThisRun, elapsed);
    }

    public void Finish(long rowsDone, long rowsThisRun, TimeSpan elapsed)
    {
        Draw(rowsDone, rowsThisRun, elapsed);
        if (interactive) Console.WriteLine();
    }

    private void Draw(long rowsDone, long rowsThisRun, TimeSpan elapsed)
    {
        const int width = 30;
        long total = Math.Max(totalRows, rowsDone);
        int filled = total == 0 ? width : (int)(width * rowsDone / total);
        double rate = rowsThisRun / Math.Max(1e-3, elapsed.TotalSeconds);
        TimeSpan left = rate > 0 ? TimeSpan.FromSeconds((total - rowsDone) / rate) : TimeSpan.Zero;
        string line = string.Format(CultureInfo.InvariantCulture, "[{0}{1}] {2:N0}/{3:N0} rows  {4:N0} rows/s  {5:hh\\:mm\\:ss} left{6}",
            new string('#', filled), new string('-', width - filled), rowsDone, total, rate, left, rowsBefore > 0 ? $"  (resumed after {rowsBefore:N0})" : "");
        if (interactive) Console.Write("\r" + line);
        else Console.WriteLine(line);
    }
}
