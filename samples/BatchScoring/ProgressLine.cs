using System.Globalization;

/// <summary>A one-line progress bar with rows per second and the time left, redrawn at most twice a second.</summary>
internal sealed class ProgressLine(long totalRows, long rowsBefore)
{
    private TimeSpan lastDrawn = TimeSpan.FromSeconds(-1);

    public void Update(long rowsDone, long rowsThisRun, TimeSpan elapsed)
    {
        if (elapsed - lastDrawn < TimeSpan.FromMilliseconds(500)) return;
        lastDrawn = elapsed;
        Draw(rowsDone, rowsThisRun, elapsed);
    }

    public void Finish(long rowsDone, long rowsThisRun, TimeSpan elapsed)
    {
        Draw(rowsDone, rowsThisRun, elapsed);
        Console.WriteLine();
    }

    private void Draw(long rowsDone, long rowsThisRun, TimeSpan elapsed)
    {
        const int width = 30;
        long total = Math.Max(totalRows, rowsDone);
        int filled = total == 0 ? width : (int)(width * rowsDone / total);
        double rate = rowsThisRun / Math.Max(1e-3, elapsed.TotalSeconds);
        TimeSpan left = rate > 0 ? TimeSpan.FromSeconds((total - rowsDone) / rate) : TimeSpan.Zero;
        Console.Write(string.Format(CultureInfo.InvariantCulture, "\r[{0}{1}] {2:N0}/{3:N0} rows  {4:N0} rows/s  {5:hh\\:mm\\:ss} left{6}",
            new string('#', filled), new string('-', width - filled), rowsDone, total, rate, left, rowsBefore > 0 ? $"  (resumed after {rowsBefore:N0})" : ""));
    }
}
