using System.Globalization;

namespace MLNet.MoE.Samples.LoadGenerator;

/// <summary>Sums of the samples of a Prometheus text-format scrape (the service's <c>GET /metrics</c>), by metric name.</summary>
internal sealed class PrometheusText
{
    private readonly Dictionary<string, double> sums = new(StringComparer.Ordinal);

    private PrometheusText()
    {
    }

    /// <summary>Reads a scrape.</summary>
    public static PrometheusText Parse(string text)
    {
        var scrape = new PrometheusText();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            int labels = line.IndexOf('{');
            int space = line.LastIndexOf('}') is int close and >= 0 ? line.IndexOf(' ', close) : line.IndexOf(' ');
            if (space < 0) continue;
            string name = line[..(labels >= 0 && labels < space ? labels : space)];
            string value = line[(space + 1)..].Split(' ')[0];
            if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number)) continue;
            scrape.sums[name] = scrape.sums.GetValueOrDefault(name) + number;
        }
        return scrape;
    }

    /// <summary>The sum over every series named <paramref name="name"/> (0 when there is none).</summary>
    public double Sum(string name) => sums.GetValueOrDefault(name);
}
