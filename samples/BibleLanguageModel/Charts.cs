using MLNet.MoE;
using ScottPlot;

/// <summary>The two PNG charts written next to the model, with ScottPlot.</summary>
internal static class Charts
{
    /// <summary>
    /// Training cross-entropy at every progress report of the run (<see cref="LanguageModelTrainingSummary.History"/>, which a resumed
    /// run carries over from its checkpoint) and the held-out verses' cross-entropy after the last step.
    /// </summary>
    public static void WriteLossCurve(IReadOnlyList<LanguageModelProgress> history, int finalStep, double validationCrossEntropy, string path)
    {
        var plot = new Plot();
        var training = plot.Add.Scatter(history.Select(r => (double)r.Step).ToArray(), history.Select(r => r.Loss).ToArray());
        training.LegendText = "training";
        training.MarkerSize = 0;
        var validation = plot.Add.Scatter(new[] { (double)finalStep }, new[] { validationCrossEntropy });
        validation.LegendText = "validation (held-out verses, after training)";
        validation.MarkerSize = 8;
        plot.Title("King James Bible MoE language model");
        plot.XLabel("optimizer step");
        plot.YLabel("cross-entropy (nats/token)");
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, path);
    }

    /// <summary>
    /// One row per routed expert of each MoE layer, one column per progress report: the expert's share of its layer's
    /// token-expert assignments in that report window (1 / experts everywhere would be perfect balance).
    /// </summary>
    public static void WriteExpertLoadHeatmap(IReadOnlyList<LanguageModelProgress> history, string path)
    {
        var layers = history.SelectMany(r => r.ExpertLoadShares.Keys).Distinct().Order().ToList();
        var rows = layers.SelectMany(layer => Enumerable.Range(0, history.Select(r => r.ExpertLoadShares.GetValueOrDefault(layer)?.Length ?? 0).Max())
            .Select(expert => (Layer: layer, Expert: expert))).ToList();
        var values = new double[rows.Count, history.Count];
        for (int r = 0; r < rows.Count; r++)
        {
            for (int c = 0; c < history.Count; c++)
            {
                double[]? shares = history[c].ExpertLoadShares.GetValueOrDefault(rows[r].Layer);
                values[r, c] = shares != null && rows[r].Expert < shares.Length ? shares[rows[r].Expert] : double.NaN;
            }
        }
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(values);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        // The extent places the cells' centres: column c at the middle of the report window ending at its step, row r
        // at y = r (data row 0 at the bottom, matching the tick labels below).
        double window = history.Count > 0 ? history[0].Step : 1;
        double firstCentre = window / 2;
        double lastCentre = history.Count > 1 ? history[^1].Step - window / 2 : firstCentre + 1;
        heatmap.Extent = new CoordinateRect(firstCentre, lastCentre, Math.Max(1, rows.Count - 1), 0);
        plot.Add.ColorBar(heatmap).Label = "share of the layer's assignments";
        plot.Axes.Left.SetTicks(Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray(), rows.Select(x => $"L{x.Layer} E{x.Expert}").ToArray());
        plot.Title("Expert load per MoE layer");
        plot.XLabel("optimizer step");
        plot.YLabel("layer / routed expert");
        Save(plot, path, height: Math.Max(400, 60 + rows.Count * 18));
    }

    /// <summary>Writes through a temporary file, so an interrupted run never leaves half a PNG.</summary>
    private static void Save(Plot plot, string path, int width = 900, int height = 500)
    {
        byte[] png = plot.GetImageBytes(width, height, ImageFormat.Png);
        string temporary = path + ".tmp";
        File.WriteAllBytes(temporary, png);
        File.Move(temporary, path, overwrite: true);
    }
}
