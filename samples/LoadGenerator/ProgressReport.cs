using System.Globalization;

namespace MLNet.MoE.Samples.LoadGenerator;

/// <summary>
/// Progress of a scenario on standard error: redrawn in place (<c>\r</c>) on an interactive terminal, else one plain line
/// every few seconds, so redirected logs hold no carriage returns.
/// </summary>
internal sealed class ProgressReport : IDisposable
{
    private static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(5);
    private readonly string scenario;
    private readonly bool interactive = !Console.IsErrorRedirected;
    private TimeSpan lastLine;
    private bool drawn;

    public ProgressReport(string scenario) => this.scenario = scenario;

    /// <summary>Reports <paramref name="done"/> of at most <paramref name="total"/> requests after <paramref name="elapsed"/>.</summary>
    public void Update(int done, int total, TimeSpan elapsed)
    {
        string text = string.Format(CultureInfo.InvariantCulture, "{0}: {1}/{2} requests, {3:F0}/s, {4:F0} s", scenario, done, total, done / Math.Max(elapsed.TotalSeconds, 1e-3), elapsed.TotalSeconds);
        if (interactive)
        {
            Console.Error.Write("\r" + text);
            drawn = true;
        }
        else if (elapsed - lastLine >= LineInterval)
        {
            lastLine = elapsed;
            Console.Error.WriteLine(text);
        }
    }

    /// <summary>Ends the redrawn line.</summary>
    public void Dispose()
    {
        if (drawn) Console.Error.WriteLine();
    }
}
