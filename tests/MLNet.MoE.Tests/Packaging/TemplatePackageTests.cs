using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;

namespace MLNet.MoE.Tests.Packaging;

/// <summary>
/// The template package end to end: packs MLNet.MoE, MLNet.MoE.Core, MLNet.MoE.ModelBuilder and MLNet.MoE.Templates with one version of
/// their own into a temporary feed, installs the templates into an isolated template home, makes a classifier and a
/// language-model project with <c>dotnet new</c>, builds them against the packed libraries (nuget.org for everything
/// else) and runs their training in its reduced mode and a prediction in a second process. Bad data (a missing file, a
/// column not in the header, one class) fails at the first training run naming the file or column, leaving no model;
/// a bad template option fails at <c>dotnet new</c> and leaves no project. The model's namespace is the project's name or
/// the one <c>--namespace</c> gives.
/// </summary>
public class TemplatePackageTests
{
    [Fact]
    public void BothTemplatesMakeProjectsThatBuildTrainAndPredictAgainstThePackedLibrary()
    {
        string work = TestPaths.NewTempDirectory();
        string feed = Path.Combine(work, "feed");
        string hive = Path.Combine(work, "template-home");
        string apps = Path.Combine(work, "apps");
        Directory.CreateDirectory(apps);
        string version = "0.0.0-templatetest." + DateTime.UtcNow.ToString("yyyyMMddHHmmss") + ".g" + Guid.NewGuid().ToString("N")[..8];   // "g": a SemVer identifier of digits only may not start with 0
        string[] packageIds = { "MLNet.MoE", "MLNet.MoE.Core", "MLNet.MoE.ModelBuilder", "MLNet.MoE.Templates" };
        try
        {
            foreach (string id in packageIds)
            {
                bool library = id != "MLNet.MoE.Templates";
                string project = library
                    ? Path.Combine(TestPaths.RepositoryRoot, "src", id, id + ".csproj")
                    : Path.Combine(TestPaths.RepositoryRoot, "templates", id, id + ".csproj");
                // The libraries are built in this configuration already (the tests reference them); the template
                // package compiles nothing, so it is packed with its (empty) build.
                var arguments = new List<string> { "pack", project, "-c", BuildConfiguration(), "-o", feed, "-p:MinVerVersionOverride=" + version };
                if (library) arguments.Add("--no-build");
                DotnetProcess.RunSucceeding(TestPaths.RepositoryRoot, null, arguments.ToArray());
            }
            string templatePackage = Path.Combine(feed, $"MLNet.MoE.Templates.{version}.nupkg");
            CheckTemplatePackage(templatePackage, version);

            string installed = DotnetProcess.RunSucceeding(apps, null, "new", "install", templatePackage, "--debug:custom-hive", hive);
            Assert.Contains("mlnet-moe-classifier", installed);
            Assert.Contains("mlnet-moe-languagemodel", installed);
            File.WriteAllText(Path.Combine(apps, "nuget.config"), NuGetConfig(feed));

            // Data with a header, the label first: the columns are found by name.
            File.WriteAllLines(Path.Combine(apps, "reviews.tsv"), new[] { "Label\tText" }.Concat(File.ReadLines(TestPaths.AmazonReviews).Select(l => l.Split('\t')).Select(f => f[1] + "\t" + f[0])));
            File.WriteAllLines(Path.Combine(apps, "verses.csv"), new[] { "Verse" }.Concat(File.ReadLines(TestPaths.KjvVerses).Where(l => l.Length > 0 && !l.Contains(',')).Take(600)));

            // A bad option value fails at dotnet new and leaves nothing behind.
            var refused = DotnetProcess.Run(apps, null, "new", "mlnet-moe-classifier", "-n", "BadDevice", "--data", "reviews.tsv", "--device", "tpu", "--debug:custom-hive", hive);
            Assert.NotEqual(0, refused.ExitCode);
            Assert.False(Directory.Exists(Path.Combine(apps, "BadDevice")));

            DotnetProcess.RunSucceeding(apps, null, "new", "mlnet-moe-classifier", "-n", "ReviewModel", "--data", "reviews.tsv", "--label", "Label", "--text", "Text", "--debug:custom-hive", hive);
            DotnetProcess.RunSucceeding(apps, null, "new", "mlnet-moe-languagemodel", "-n", "VerseModel", "--data", "verses.csv", "--text", "Verse", "--separator", "comma", "--namespace", "Verses.Generation", "--debug:custom-hive", hive);
            // The namespace is the project's name unless --namespace names another.
            Assert.Contains("namespace ReviewModel;", File.ReadAllText(Path.Combine(apps, "ReviewModel", "ReviewModel.training.cs")));
            Assert.Contains("namespace Verses.Generation;", File.ReadAllText(Path.Combine(apps, "VerseModel", "VerseModel.training.cs")));
            foreach (var (name, expected) in new[] { ("ReviewModel", new[] { "consumption.cs", "training.cs", "evaluate.cs", "mbconfig", "csproj" }), ("VerseModel", new[] { "consumption.cs", "training.cs", "evaluate.cs", "mbconfig", "csproj" }) })
            {
                foreach (string suffix in expected) Assert.True(File.Exists(Path.Combine(apps, name, $"{name}.{suffix}")), $"dotnet new wrote no {name}.{suffix}");
                Assert.Contains($"<PackageReference Include=\"MLNet.MoE.ModelBuilder\" Version=\"{version}\" />", File.ReadAllText(Path.Combine(apps, name, name + ".csproj")));
            }

            // The classifier: build, train (reduced), predict in a second process.
            DotnetProcess.RunSucceeding(apps, null, "build", Path.Combine("ReviewModel", "ReviewModel.csproj"), "-c", "Release");
            string review = Path.Combine(apps, "ReviewModel", "bin", "Release", "net10.0", "ReviewModel.dll");
            string reviewModel = Path.Combine(apps, "review.mlnet");
            string trained = DotnetProcess.RunSucceeding(apps, null, "exec", review, "train", "--quick", "--model", reviewModel);
            Assert.Contains("MicroAccuracy:", trained);
            Assert.True(File.Exists(reviewModel));
            string predicted = DotnetProcess.RunSucceeding(apps, null, "exec", review, "predict", "Works great, I love it.", "--model", reviewModel);
            var labels = predicted.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("0:", StringComparison.Ordinal) || l.StartsWith("1:", StringComparison.Ordinal)).ToList();
            Assert.Equal(2, labels.Count);
            Assert.Contains("PredictedLabel: " + labels[0][..1], predicted);

            // Bad data fails at the first Train call, naming the file or column, and writes no model.
            File.WriteAllLines(Path.Combine(apps, "no-text.tsv"), new[] { "Label\tSentence", "1\tGood.", "0\tBad." });
            File.WriteAllLines(Path.Combine(apps, "one-class.tsv"), new[] { "Label\tText" }.Concat(Enumerable.Range(0, 20).Select(i => $"1\tGood {i}.")));
            foreach (var (data, named) in new[] { ("missing.tsv", "'missing.tsv'"), ("no-text.tsv", "Column 'Text'"), ("one-class.tsv", "Label column 'Label'") })
            {
                string badModel = Path.Combine(apps, "bad.mlnet");
                var failed = DotnetProcess.Run(apps, null, "exec", review, "train", "--quick", "--data", data, "--model", badModel);
                Assert.Equal(1, failed.ExitCode);
                Assert.Contains(named, failed.Error);
                Assert.False(File.Exists(badModel), $"a model was written for {data}");
                Assert.Empty(Directory.GetFiles(apps, "bad.mlnet*"));
            }

            // The language model: build, train (reduced), generate and score in a second process.
            DotnetProcess.RunSucceeding(apps, null, "build", Path.Combine("VerseModel", "VerseModel.csproj"), "-c", "Release");
            string verse = Path.Combine(apps, "VerseModel", "bin", "Release", "net10.0", "VerseModel.dll");
            string verseModel = Path.Combine(apps, "verse.mlnet");
            string lmTrained = DotnetProcess.RunSucceeding(apps, null, "exec", verse, "train", "--quick", "--model", verseModel);
            Assert.Contains("Perplexity:", lmTrained);
            string generated = DotnetProcess.RunSucceeding(apps, null, "exec", verse, "predict", "In the beginning", "--model", verseModel);
            Assert.Contains("GeneratedText:", generated);
            Assert.Contains("Perplexity:", generated);
            Assert.Contains("Score:", generated);
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

    /// <summary>The package is a template package with both templates, their default MLNet.MoE version set to its own.</summary>
    private static void CheckTemplatePackage(string package, string version)
    {
        using var zip = ZipFile.OpenRead(package);
        var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
        foreach (string template in new[] { "classifier", "languagemodel" })
        {
            using var reader = new StreamReader(zip.GetEntry($"content/{template}/.template.config/template.json")!.Open());
            string json = reader.ReadToEnd();
            Assert.Contains($"\"defaultValue\": \"{version}\"", json);
        }
        Assert.DoesNotContain(entries, e => e.StartsWith("lib/", StringComparison.Ordinal) || e.Contains("/bin/") || e.Contains("/obj/"));
        using var nuspecStream = zip.GetEntry("MLNet.MoE.Templates.nuspec")!.Open();
        XElement nuspec = XElement.Load(nuspecStream);
        XNamespace ns = nuspec.Name.Namespace;
        Assert.Equal("Template", nuspec.Descendants(ns + "packageType").Single().Attribute("name")?.Value);
    }

    private static string NuGetConfig(string feed) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            <clear />
            <add key="mlnet-moe-local" value="{feed}" />
            <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
          </packageSources>
          <packageSourceMapping>
            <packageSource key="mlnet-moe-local">
              <package pattern="MLNet.MoE" />
              <package pattern="MLNet.MoE.*" />
            </packageSource>
            <packageSource key="nuget.org">
              <package pattern="*" />
            </packageSource>
          </packageSourceMapping>
        </configuration>
        """;

    private static string GlobalPackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>The configuration this test assembly was built in, which is the one the library was built in too.</summary>
    private static string BuildConfiguration() =>
        typeof(TemplatePackageTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration is { Length: > 0 } configuration
            ? configuration
            : "Debug";
}
