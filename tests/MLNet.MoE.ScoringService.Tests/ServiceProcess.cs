using System.Diagnostics;
using System.Text;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>The built scoring service (<c>MLNet.MoE.ScoringService.dll</c> of this configuration) run as its own process, with its output captured.</summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();

    private ServiceProcess(Process process)
    {
        this.process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Standard output and error so far.</summary>
    public string Output
    {
        get
        {
            lock (output) return output.ToString();
        }
    }

    public bool HasExited => process.HasExited;

    /// <summary>The service's build output folder (the same configuration as these tests).</summary>
    public static string BuildFolder
    {
        get
        {
            var tests = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            string framework = tests.Name, configuration = tests.Parent!.Name;
            string folder = Path.Combine(RepositoryRoot, "samples", "ScoringService", "bin", configuration, framework);
            if (!File.Exists(Path.Combine(folder, "MLNet.MoE.ScoringService.dll"))) throw new FileNotFoundException($"The scoring service is not built in {folder}.");
            return folder;
        }
    }

    /// <summary>The folder holding MLNet.MoE.sln.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (string? dir = AppContext.BaseDirectory; dir != null; dir = Path.GetDirectoryName(dir))
            {
                if (File.Exists(Path.Combine(dir, "MLNet.MoE.sln"))) return dir;
            }
            throw new DirectoryNotFoundException("MLNet.MoE.sln was not found above " + AppContext.BaseDirectory);
        }
    }

    public static ServiceProcess Start(IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = BuildFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(BuildFolder, "MLNet.MoE.ScoringService.dll"));
        foreach (string arg in args) start.ArgumentList.Add(arg);
        // Only what the test gives: no address or setting leaks in from the environment the tests run in.
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || k.StartsWith("Scoring__", StringComparison.Ordinal) || k.StartsWith("DOTNET_URLS", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(name);
        start.Environment["Logging__Console__FormatterName"] = "simple";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        return new ServiceProcess(Process.Start(start)!);
    }

    /// <summary>Waits for the process to end; its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        await process.WaitForExitAsync(timeout.Token);
        process.WaitForExit();
        return process.ExitCode;
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line == null) return;
        lock (output) output.AppendLine(line);
    }
}
