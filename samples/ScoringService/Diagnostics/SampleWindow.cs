namespace MLNet.MoE.Samples.ScoringService.Diagnostics;

/// <summary>
/// The last <c>capacity</c> values of a measurement, for percentiles. Hand-written because System.Diagnostics.Metrics
/// histograms report percentiles only through an exporter (OpenTelemetry, Prometheus) that this sample does not ship.
/// </summary>
public sealed class SampleWindow
{
    private readonly double[] values;
    private readonly object gate = new();
    private long count;
    private double sum;

    /// <summary>Keeps the last <paramref name="capacity"/> values.</summary>
    public SampleWindow(int capacity = 8192) => values = new double[capacity];

    /// <summary>Adds a value.</summary>
    public void Add(double value)
    {
        lock (gate)
        {
            values[count % values.Length] = value;
            count++;
            sum += value;
        }
    }

    /// <summary>Count and mean over all values, percentiles over the kept ones.</summary>
    public SampleSummary Summarize()
    {
        double[] kept;
        long total;
        double totalSum;
        lock (gate)
        {
            kept = values.AsSpan(0, (int)Math.Min(count, values.Length)).ToArray();
            total = count;
            totalSum = sum;
        }
        Array.Sort(kept);
        // Nearest-rank percentile.
        double At(double q) => kept.Length == 0 ? 0 : kept[Math.Clamp((int)Math.Ceiling(q * kept.Length) - 1, 0, kept.Length - 1)];
        return new SampleSummary(total, total == 0 ? 0 : totalSum / total, At(0.5), At(0.9), At(0.99), kept.Length == 0 ? 0 : kept[^1]);
    }
}

/// <summary>Summary of a <see cref="SampleWindow"/>.</summary>
/// <param name="Count">Values added.</param>
/// <param name="Mean">Their mean.</param>
/// <param name="P50">Median of the kept values.</param>
/// <param name="P90">90th percentile.</param>
/// <param name="P99">99th percentile.</param>
/// <param name="Max">Largest kept value.</param>
public sealed record SampleSummary(long Count, double Mean, double P50, double P90, double P99, double Max);
