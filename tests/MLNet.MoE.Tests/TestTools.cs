using System.Diagnostics;

namespace MLNet.MoE.Tests;

/// <summary>Runs the repository's helper programs (built beside the tests) in their own processes.</summary>
internal static class TestTools
{
    /// <summary>Runs tests/<paramref name="project"/> with <paramref name="arguments"/>; returns its exit code, standard output and standard error.</summary>
    public static (int ExitCode, string Output, string Error) Run(string project, params string[] arguments)
    {
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        string tool = Path.Combine(TestPaths.RepositoryRoot, "tests", project, "bin", configuration, "net10.0", project + ".dll");
        if (!File.Exists(tool)) throw new FileNotFoundException($"{tool} was not built (it is a build dependency of the tests).", tool);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(tool);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{project} did not finish within 5 minutes.");
        }
        return (process.ExitCode, output.Result, error.Result);
    }
}
