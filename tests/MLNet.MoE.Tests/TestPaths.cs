namespace MLNet.MoE.Tests;

/// <summary>Locates the repository root and the shared data/fixtures folder that sits beside it.</summary>
internal static class TestPaths
{
    /// <summary>The repository root: the first folder above the test binaries that holds MLNet.MoE.sln.</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>The shared folder (data, fixtures) beside the repository: <c>../shared</c>.</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"));

    /// <summary>A file under the shared folder; fails with the path when it is missing.</summary>
    public static string SharedFile(params string[] parts)
    {
        string path = Path.Combine(new[] { Shared }.Concat(parts).ToArray());
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            throw new FileNotFoundException($"Shared test input '{path}' is missing: the tests expect the shared folder beside the repository.", path);
        }
        return path;
    }

    /// <summary>A new empty temporary folder, unique to the caller.</summary>
    public static string NewTempDirectory()
    {
        string path = Path.Combine(Path.GetTempPath(), "mlnet-moe-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    private static string FindRepositoryRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir != null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "MLNet.MoE.sln"))) return dir;
        }
        throw new DirectoryNotFoundException("MLNet.MoE.sln was not found above " + AppContext.BaseDirectory);
    }
}
