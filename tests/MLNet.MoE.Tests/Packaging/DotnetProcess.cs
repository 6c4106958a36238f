using System.Diagnostics;

namespace MLNet.MoE.Tests.Packaging;

/// <summary>Runs the <c>dotnet</c> command line as a child process, without the test host's MSBuild settings.</summary>
internal static class DotnetProcess
{
    /// <summary>What a run printed and how it ended.</summary>
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\n{Output}\n{Error}";
    }

    /// <summary>Runs <c>dotnet</c> with <paramref name="arguments"/> (each passed as one argument) in <paramref name="directory"/>.</summary>
    public static Result Run(string directory, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // The test host's MSBuild settings must not leak into the child builds.
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBuildSDKsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        if (environment != null)
        {
            foreach (var (name, value) in environment) start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish in 10 minutes.\n{output}");
        }
        return new Result(process.ExitCode, output, error.Result);
    }

    /// <summary>As <see cref="Run"/>, failing with the output unless the run succeeds; returns what it printed.</summary>
    public static string RunSucceeding(string directory, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var result = Run(directory, environment, arguments);
        Assert.True(result.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} failed: {result}");
        return result.Output;
    }
}
