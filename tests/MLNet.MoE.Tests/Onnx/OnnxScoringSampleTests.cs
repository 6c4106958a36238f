using Microsoft.ML;
using System.Diagnostics;
using System.Text.Json;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>The TorchSharp-free ONNX scoring sample, run as its own process on an exported model.</summary>
public class OnnxScoringSampleTests
{
    private static string SampleDirectory()
    {
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        return Path.Combine(TestPaths.RepositoryRoot, "samples", "OnnxScoring", "bin", configuration, "net10.0");
    }

    [Fact]
    public async Task TheSampleHasNoTorchSharpAndScoresLikeTheTransformerInThisProcess()
    {
        string folder = SampleDirectory();
        string tool = Path.Combine(folder, "OnnxScoring.dll");
        Assert.True(File.Exists(tool), $"{tool} was not built");
        var shipped = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.DoesNotContain(shipped, f => f!.Contains("TorchSharp", StringComparison.OrdinalIgnoreCase) || f.Contains("libtorch", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("MLNet.MoE.Onnx.dll", shipped);

        var trained = TrainedModel.Instance;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { tool, "--model", trained.Directory, "--quick", "--out", TestPaths.NewTempDirectory() }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        string error = await stderr;
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}: {error}");
        using var json = JsonDocument.Parse(await stdout);
        var root = json.RootElement;
        Assert.False(root.GetProperty("torchSharpLoaded").GetBoolean());

        // The same three texts scored here, in a process that has TorchSharp, by the same ONNX transformer.
        var ml = new Microsoft.ML.MLContext(seed: 1);
        using var model = ml.MoeOnnx().LoadLanguageModel(trained.Directory, tokenColumnName: "Text");
        string[] texts = { "In the beginning God created the heaven and the earth.", "And the earth was without form, and void; and darkness was upon the face of the deep.", "And God said, Let there be light: and there was light." };
        var rows = root.GetProperty("rows").EnumerateArray().ToList();
        var reloaded = root.GetProperty("reloadedRows").EnumerateArray().ToList();
        Assert.Equal(3, rows.Count);
        for (int i = 0; i < 3; i++)
        {
            var (sum, _, tokens) = model.ScoreTokens(model.Tokenizer.Encode(texts[i]));
            Assert.Equal(tokens, rows[i].GetProperty("TokenCount").GetSingle());
            Assert.Equal((float)(sum / tokens), rows[i].GetProperty("Score").GetSingle(), 5);
            Assert.Equal(rows[i].GetProperty("Score").GetSingle(), reloaded[i].GetProperty("Score").GetSingle());
        }
        Assert.Equal(root.GetProperty("generated").GetString(), root.GetProperty("reloadedGenerated").GetString());
        // TokenizeForMoe and MoeOnnx().Evaluate ran without TorchSharp: their metrics are the token-weighted mean of the rows' scores.
        var metrics = root.GetProperty("pipelineMetrics");
        double tokenTotal = rows.Sum(r => r.GetProperty("TokenCount").GetDouble());
        double weighted = rows.Sum(r => r.GetProperty("Score").GetDouble() * r.GetProperty("TokenCount").GetDouble()) / tokenTotal;
        Assert.Equal(tokenTotal, metrics.GetProperty("TokenCount").GetDouble());
        Assert.Equal(3, metrics.GetProperty("RowCount").GetInt32());
        Assert.Equal(weighted, metrics.GetProperty("CrossEntropy").GetDouble(), 4);
        Assert.Equal(model.Generate("And God said", new MLNet.MoE.GenerationOptions { MaxNewTokens = 8 }), root.GetProperty("generated").GetString());
    }
}
