using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Xml.Linq;

namespace MLNet.MoE.Tests.Packaging;

/// <summary>
/// Packs the three packages, then builds and runs the newcomer app (<c>tests/NewcomerApp</c>, written from the docs) in a
/// temporary folder, consuming them from a local feed (nuget.org for everything else) with TorchSharp-cpu: the packages
/// work outside the solution, their buildTransitive native-loading fix included, and a second process reloads what the
/// first one saved.
/// </summary>
/// <remarks>
/// The package gets a version of its own per run, so NuGet can never hand the app a stale MLNet.MoE from the machine's
/// package cache; that version's folder is removed from the cache afterwards. The cache itself is shared with the rest
/// of the build, so TorchSharp-cpu's libtorch (about 500 MB) is not restored again.
/// </remarks>
public class PackageConsumerTests
{
    private const string TorchSharpVersion = "0.107.0";

    [Fact]
    public void TheNewcomerAppTrainsExportsAndReloadsThroughThePackages()
    {
        string work = TestPaths.NewTempDirectory();
        string feed = Path.Combine(work, "feed");
        string app = Path.Combine(work, "app");
        string output = Path.Combine(work, "output");
        Directory.CreateDirectory(app);
        string version = "0.0.0-packagetest." + DateTime.UtcNow.ToString("yyyyMMddHHmmss") + ".g" + Guid.NewGuid().ToString("N")[..8];   // "g": a SemVer identifier of digits only may not start with 0
        string[] packageIds = { "MLNet.MoE", "MLNet.MoE.Core", "MLNet.MoE.Onnx" };
        try
        {
            // The libraries are already built in this configuration: the test project references them.
            foreach (string id in packageIds)
            {
                string project = Path.Combine(TestPaths.RepositoryRoot, "src", id, id + ".csproj");
                Run(TestPaths.RepositoryRoot, "pack", Quote(project), "-c", BuildConfiguration(), "--no-build", "-o", Quote(feed), "-p:MinVerVersionOverride=" + version);
                string written = Path.Combine(feed, $"{id}.{version}.nupkg");
                Assert.True(File.Exists(written), $"dotnet pack wrote no {written}");
                CheckReadme(written, id);
            }
            string package = Path.Combine(feed, $"MLNet.MoE.{version}.nupkg");
            Assert.True(File.Exists(Path.ChangeExtension(package, ".snupkg")), "dotnet pack wrote no symbol package");
            CheckPackageContents(package);

            // The newcomer app as CI builds it, with this test's feed in place of the repository's nuget/ folder.
            string source = Path.Combine(TestPaths.RepositoryRoot, "tests", "NewcomerApp");
            foreach (string file in new[] { "NewcomerApp.csproj", "Program.cs", "Directory.Build.props", "Directory.Build.targets" })
                File.Copy(Path.Combine(source, file), Path.Combine(app, file));
            File.WriteAllText(Path.Combine(app, "nuget.config"), File.ReadAllText(Path.Combine(source, "nuget.config")).Replace("\"../../nuget\"", "\"" + feed + "\""));

            Run(app, "build", "-c", "Release", "-p:MLNetMoEVersion=" + version);
            string bin = Path.Combine(app, "bin", "Release", "net10.0");
            CheckNativeLibraryFix(bin);

            string trained = Run(app, "exec", Quote(Path.Combine(bin, "NewcomerApp.dll")), "train", Quote(TestPaths.Data), Quote(output));
            Assert.Contains("train=ok", trained);
            Assert.Contains("lm.steps=4", trained);
            string reloaded = Run(app, "exec", Quote(Path.Combine(bin, "NewcomerApp.dll")), "score", Quote(output));
            Assert.Contains("score=ok", reloaded);
            string Value(string text, string key) => text.Split('\n').Select(l => l.TrimEnd('\r')).Single(l => l.StartsWith(key + "=", StringComparison.Ordinal))[(key.Length + 1)..];
            Assert.Equal(Value(trained, "lm.generated"), Value(reloaded, "reloaded.generated"));
        }
        finally
        {
            foreach (string id in packageIds)
            {
                string cached = Path.Combine(GlobalPackagesFolder(), id.ToLowerInvariant(), version);
                if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
            }
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Every package carries a readme that NuGet shows on its page.</summary>
    private static void CheckReadme(string package, string id)
    {
        using var zip = ZipFile.OpenRead(package);
        Assert.NotNull(zip.GetEntry("README.md"));
        using var nuspecStream = zip.GetEntry(id + ".nuspec")!.Open();
        XElement nuspec = XElement.Load(nuspecStream);
        XNamespace ns = nuspec.Name.Namespace;
        Assert.Equal("README.md", nuspec.Element(ns + "metadata")?.Element(ns + "readme")?.Value);
    }

    /// <summary>The package holds the library, its docs, the README and the buildTransitive fix, and depends on no build-time project.</summary>
    private static void CheckPackageContents(string package)
    {
        using var zip = ZipFile.OpenRead(package);
        var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
        foreach (string expected in new[]
        {
            "lib/net10.0/MLNet.MoE.dll", "lib/net10.0/MLNet.MoE.xml", "README.md",
            "buildTransitive/MLNet.MoE.targets", "buildTransitive/WeakenLibTorchSharpGlibcxxNeed.cs",
        })
        {
            Assert.Contains(expected, entries);
        }
        Assert.DoesNotContain(entries, e => e.Contains("Publicizer", StringComparison.OrdinalIgnoreCase) || e.Contains("Mono.Cecil", StringComparison.OrdinalIgnoreCase));

        using var nuspecStream = zip.GetEntry("MLNet.MoE.nuspec")!.Open();
        XElement nuspec = XElement.Load(nuspecStream);
        XNamespace ns = nuspec.Name.Namespace;
        XElement metadata = nuspec.Element(ns + "metadata")!;
        Assert.Equal("MIT", metadata.Element(ns + "license")?.Value);
        Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
        Assert.Equal("git", metadata.Element(ns + "repository")?.Attribute("type")?.Value);
        var dependencies = metadata.Descendants(ns + "dependency").Select(d => d.Attribute("id")!.Value).ToList();
        Assert.Contains("TorchSharp", dependencies);
        Assert.Contains("Microsoft.ML", dependencies);
        Assert.DoesNotContain(dependencies, d => d.Contains("Publicizer", StringComparison.OrdinalIgnoreCase) || d == "Mono.Cecil");
        Assert.DoesNotContain(dependencies, d => d.StartsWith("TorchSharp-", StringComparison.OrdinalIgnoreCase) || d.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Where the system libstdc++ lacks GLIBCXX_3.4.32, the app's copy of libLibTorchSharp.so must have been rewritten by
    /// the package's buildTransitive targets while the package cache's copy stays as shipped; elsewhere both are equal.
    /// </summary>
    private static void CheckNativeLibraryFix(string bin)
    {
        if (!OperatingSystem.IsLinux()) return;
        string appCopy = Path.Combine(bin, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        string shipped = Path.Combine(GlobalPackagesFolder(), "torchsharp", TorchSharpVersion, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(appCopy), "the app's build output has no " + appCopy);
        Assert.True(File.Exists(shipped), "the package cache has no " + shipped);
        bool systemHasVersion = SystemLibStdCppHas("GLIBCXX_3.4.32");
        bool rewritten = !File.ReadAllBytes(appCopy).AsSpan().SequenceEqual(File.ReadAllBytes(shipped));
        Assert.Equal(!systemHasVersion, rewritten);
    }

    private static bool SystemLibStdCppHas(string version)
    {
        foreach (string candidate in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6" })
        {
            if (File.Exists(candidate)) return File.ReadAllBytes(candidate).AsSpan().IndexOf(Encoding.ASCII.GetBytes(version + "\0")) >= 0;
        }
        return false;
    }

    private static string GlobalPackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>The configuration this test assembly was built in, which is the one the library was built in too.</summary>
    private static string BuildConfiguration() =>
        typeof(PackageConsumerTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration is { Length: > 0 } configuration
            ? configuration
            : "Debug";

    private static string Quote(string path) => "\"" + path + "\"";

    /// <summary>Runs <c>dotnet</c> with the arguments in <paramref name="directory"/>; fails with the output on a non-zero exit.</summary>
    private static string Run(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", string.Join(' ', arguments))
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        // The test host's MSBuild settings must not leak into the child builds.
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBuildSDKsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {start.Arguments} did not finish in 5 minutes.\n{stdout}");
        }
        Assert.True(process.ExitCode == 0, $"dotnet {start.Arguments} exited with {process.ExitCode}:\n{stdout}\n{stderr.Result}");
        return stdout;
    }
}
