using System.Text.RegularExpressions;

namespace MLNet.MoE.Tests.Repository;

/// <summary>
/// A clone of the repository is all a user has: no source file, project, script or user document may resolve a default
/// path outside it (a sibling folder of shared data, as developers may keep one), and everything the tests and samples read ships in
/// <c>data/</c>. CI proves the same by running the suite and the samples from a clone with nothing beside it.
/// </summary>
public class RepositoryBoundaryTests
{
    // The sibling folder's name, spelled in two parts so that a plain-text search for the path finds only real uses.
    private static readonly string Sibling = string.Concat("sha", "red");

    // "../<sibling>", "..\<sibling>", or Path.Combine(..., "..", "<sibling>", ...): a folder beside the repository.
    private static readonly Regex SiblingFolder = new($@"\.\.[/\\]{Sibling}\b|""\.\.""\s*,\s*""{Sibling}""", RegexOptions.Compiled);

    private static readonly string[] CheckedExtensions = { ".cs", ".csproj", ".props", ".targets", ".sh", ".py", ".json", ".md", ".config", ".mbconfig" };

    private static IEnumerable<string> CheckedFiles()
    {
        string root = TestPaths.RepositoryRoot;
        foreach (string folder in new[] { "src", "tests", "samples", "templates", "docs", "tools", "data", ".ci" })
        {
            string path = Path.Combine(root, folder);
            if (!Directory.Exists(path)) continue;
            foreach (string file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories))
            {
                string relative = Path.GetRelativePath(root, file).Replace('\\', '/');
                if (relative.Contains("/bin/") || relative.Contains("/obj/")) continue;
                if (folder == ".ci" || CheckedExtensions.Contains(Path.GetExtension(file))) yield return file;
            }
        }
        foreach (string file in Directory.EnumerateFiles(root, "*.md")) yield return file;
        yield return Path.Combine(root, "Directory.Build.props");
    }

    [Fact]
    public void NothingPointsAtAFolderBesideTheRepository()
    {
        var offenders = new List<string>();
        foreach (string file in CheckedFiles())
        {
            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                if (SiblingFolder.IsMatch(lines[i])) offenders.Add($"{Path.GetRelativePath(TestPaths.RepositoryRoot, file)}:{i + 1}: {lines[i].Trim()}");
            }
        }
        Assert.True(offenders.Count == 0, "paths outside the repository:\n" + string.Join('\n', offenders));
    }

    [Fact]
    public void TheDataTheTestsAndSamplesReadShipsInTheRepository()
    {
        // What the tests read through TestPaths, and what the samples copy beside themselves from data/.
        Assert.True(File.ReadLines(TestPaths.KjvVerses).Count() >= 5000);
        Assert.Equal(1000, File.ReadLines(TestPaths.AmazonReviews).Count());
        foreach (string file in new[] { "config.json", "model.safetensors", "expected.json" })
            Assert.True(File.Exists(Path.Combine(TestPaths.HuggingFaceFixture, file)), file);
        string readme = File.ReadAllText(TestPaths.DataFile("README.md"));
        foreach (string entry in Directory.EnumerateFileSystemEntries(TestPaths.Data).Select(p => Path.GetFileName(p)).Where(n => n != "README.md"))
            Assert.True(readme.Contains($"`{entry}", StringComparison.Ordinal), $"data/README.md does not describe {entry} (source, licence, how it was made)");

        // A sample links data/ from its own depth: ../../data/ beside samples/X, ../../../data/ beside samples/ModelBuilder/X.
        var dataLinks = new Regex(@"Include=""(?:\.\./){2,}data/([^""*]+)", RegexOptions.Compiled);
        foreach (string project in Directory.EnumerateFiles(Path.Combine(TestPaths.RepositoryRoot, "samples"), "*.csproj", SearchOption.AllDirectories))
        {
            foreach (Match link in dataLinks.Matches(File.ReadAllText(project)))
                Assert.True(Path.Exists(Path.Combine(TestPaths.Data, link.Groups[1].Value)), $"{Path.GetFileName(project)} links data/{link.Groups[1].Value}, which does not exist");
        }
    }
}
