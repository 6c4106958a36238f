using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;

namespace MLNet.MoE.Tests.Samples;

/// <summary>
/// Runs the BatchScoring sample as a process, the way a scheduler runs the job: a complete run, a run that crashes
/// part-way and is resumed, and bad input.
/// </summary>
public class BatchScoringTests
{
    private const int Rows = 60;

    [Fact]
    public void CompleteRunScoresEveryRowLikeTheModelInProcessAndRenamesThePartialFile()
    {
        var (work, model, input, verses) = Prepare();
        string output = Path.Combine(work, "scored.tsv");
        var run = RunJob(model, input, output);
        Assert.Equal(0, run.ExitCode);
        Assert.False(File.Exists(output + ".partial"));
        string[] lines = File.ReadAllLines(output);
        Assert.Equal("Id\tScore\tPerplexity\tTokenCount", lines[0]);
        Assert.Equal(Rows + 1, lines.Length);

        // The same model scored in this process, row by row through a prediction engine.
        var ml = new MLContext(seed: 1);
        var engine = ml.Model.CreatePredictionEngine<TextRow, RowScore>(ml.Model.Load(model, out _));
        for (int i = 0; i < Rows; i++)
        {
            string[] fields = lines[i + 1].Split('\t');
            var expected = engine.Predict(new TextRow { Text = verses[i] });
            Assert.Equal($"row-{i + 1}", fields[0]);
            Assert.Equal(expected.Score, float.Parse(fields[1], CultureInfo.InvariantCulture), 5);
            Assert.Equal(expected.TokenCount, float.Parse(fields[3], CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void CrashedRunLeavesOnlyThePartialFileAndTheRerunResumesToTheSameOutput()
    {
        var (work, model, input, _) = Prepare();
        string reference = Path.Combine(work, "reference.tsv");
        Assert.Equal(0, RunJob(model, input, reference).ExitCode);

        string output = Path.Combine(work, "scored.tsv");
        var crashed = RunJob(model, input, output, "--flush-every", "10", crashAfterRows: 35);
        Assert.NotEqual(0, crashed.ExitCode);
        Assert.False(File.Exists(output));
        string partial = output + ".partial";
        Assert.True(File.Exists(partial));
        int written = File.ReadAllLines(partial).Length - 1;
        Assert.Equal(30, written); // three flushes of ten rows; the five rows after the last flush died with the process
        File.AppendAllText(partial, "row-31\t4.2"); // and a torn line, as from a write cut off mid-way

        var resumed = RunJob(model, input, output);
        Assert.Equal(0, resumed.ExitCode);
        Assert.Contains("Resuming: 30 rows", resumed.Output);
        Assert.False(File.Exists(partial));
        Assert.Equal(File.ReadAllText(reference), File.ReadAllText(output));
    }

    [Fact]
    public void InputWithoutTheModelsColumnFailsWithItsNameAndWritesNothing()
    {
        var (work, model, _, _) = Prepare();
        string input = Path.Combine(work, "wrong.tsv");
        File.WriteAllText(input, "Id\tSentence\nrow-1\tIn the beginning\n");
        string output = Path.Combine(work, "scored.tsv");
        var run = RunJob(model, input, output);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("no column 'Text'", run.Output);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(output + ".partial"));
    }

    private static (string Work, string Model, string Input, List<string> Verses) Prepare()
    {
        string work = TestPaths.NewTempDirectory();
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(Verses(40));
        var options = Options(steps: 2);
        options.PromptColumnName = null;
        string model = Path.Combine(work, "model.zip");
        ml.MoE().SaveModel(Train(ml, data, options), data.Schema, model);
        var verses = Verses(Rows).Select(v => v.Text).ToList();
        string input = Path.Combine(work, "input.tsv");
        File.WriteAllLines(input, new[] { "Id\tText" }.Concat(verses.Select((v, i) => $"row-{i + 1}\t{v}")));
        return (work, model, input, verses);
    }

    private static (int ExitCode, string Output) RunJob(string model, string input, string output, string? flushFlag = null, string? flushValue = null, int? crashAfterRows = null)
    {
        string configuration = typeof(BatchScoringTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        string dll = Path.Combine(TestPaths.RepositoryRoot, "samples", "BatchScoring", "bin", configuration, "net10.0", "BatchScoring.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "exec", dll, "--model", model, "--input", input, "--output", output, "--id-column", "Id" }) start.ArgumentList.Add(a);
        if (flushFlag != null) { start.ArgumentList.Add(flushFlag); start.ArgumentList.Add(flushValue!); }
        if (crashAfterRows is int n) start.Environment["MLNET_MOE_BATCHSCORING_CRASH_AFTER_ROWS"] = n.ToString(CultureInfo.InvariantCulture);
        start.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(3)), "the batch-scoring job did not finish in 3 minutes");
        return (process.ExitCode, stdout + stderr.Result);
    }

    private sealed class RowScore
    {
        public float Score { get; set; }

        public float TokenCount { get; set; }
    }
}
