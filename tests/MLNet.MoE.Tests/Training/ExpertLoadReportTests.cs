using Microsoft.ML;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;

namespace MLNet.MoE.Tests.Training;

public class ExpertLoadReportTests
{
    [Fact]
    public void ProgressReportsEachExpertsShareConsistentWithTheMaxOverMeanFigure()
    {
        var ml = new MLContext(seed: 1);
        var reports = new List<LanguageModelProgress>();
        var options = Options(steps: 4);
        options.ValidationFraction = 0;
        options.Progress = new CollectingProgress(reports);
        Train(ml, ml.Data.LoadFromEnumerable(Verses(40)), options);
        Assert.Equal(new[] { 2, 4 }, reports.Select(r => r.Step));
        foreach (var report in reports)
        {
            Assert.Equal(report.ExpertLoadMaxOverMean.Keys.Order(), report.ExpertLoadShares.Keys.Order());
            foreach (var (layer, shares) in report.ExpertLoadShares)
            {
                Assert.Equal(SmallConfig.NRoutedExperts, shares.Length);
                Assert.All(shares, s => Assert.InRange(s, 0.0, 1.0));
                Assert.Equal(1.0, shares.Sum(), 6);
                Assert.Equal(report.ExpertLoadMaxOverMean[layer], shares.Max() / shares.Average(), 4);
            }
        }
    }

    /// <summary>Collects reports on the calling thread (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class CollectingProgress(List<LanguageModelProgress> reports) : IProgress<LanguageModelProgress>
    {
        public void Report(LanguageModelProgress value) => reports.Add(value);
    }
}
