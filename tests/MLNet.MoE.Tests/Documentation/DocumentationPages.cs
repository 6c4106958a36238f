namespace MLNet.MoE.Tests.Documentation;

/// <summary>
/// The Markdown pages a user reads: the README, every page of <c>docs/</c>, the packages' READMEs (libraries, templates,
/// <c>nuget/</c>), the samples' READMEs and <c>data/README.md</c>. Build outputs (<c>bin/</c>, <c>obj/</c>) are not pages.
/// </summary>
internal static class DocumentationPages
{
    /// <summary>The pages' full paths, in ordinal order of their path.</summary>
    public static IReadOnlyList<string> Files { get; } = FindFiles();

    /// <summary>A page's path relative to the repository root, with forward slashes (as the failures name it).</summary>
    public static string RelativeName(string file) => Path.GetRelativePath(TestPaths.RepositoryRoot, file).Replace('\\', '/');

    private static List<string> FindFiles()
    {
        string root = TestPaths.RepositoryRoot;
        var files = new List<string>
        {
            Path.Combine(root, "README.md"),
            Path.Combine(root, "nuget", "README.md"),
            Path.Combine(root, "data", "README.md"),
        };
        files.AddRange(Directory.GetFiles(Path.Combine(root, "docs"), "*.md"));
        foreach (string folder in new[] { "src", "samples", "templates" })
        {
            files.AddRange(Directory.GetFiles(Path.Combine(root, folder), "README.md", SearchOption.AllDirectories).Where(f => !IsBuildOutput(f)));
        }
        return files.Where(File.Exists).OrderBy(f => f, StringComparer.Ordinal).ToList();
    }

    private static bool IsBuildOutput(string file) =>
        RelativeName(file).Split('/').Any(part => part is "bin" or "obj");
}
