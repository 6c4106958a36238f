namespace MLNet.MoE.Tests;

/// <summary>Locates the repository root and its <c>data</c> folder (test corpora and the Hugging Face fixture).</summary>
internal static class TestPaths
{
    /// <summary>The repository root: the first folder above the test binaries that holds MLNet.MoE.sln.</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>The repository's <c>data</c> folder: everything the tests read (see its README for sources and licences).</summary>
    public static string Data => Path.Combine(RepositoryRoot, "data");

    /// <summary>The King James Bible verses shipped in the repository (Genesis to Deuteronomy, one verse a line).</summary>
    public static string KjvVerses => DataFile("kjv-pentateuch.txt");

    /// <summary>The UCI Amazon review sentences, <c>sentence&lt;TAB&gt;0/1</c>.</summary>
    public static string AmazonReviews => DataFile("amazon_cells_labelled.txt");

    /// <summary>The tiny DeepSeek-V3 checkpoint written by Hugging Face transformers, with its <c>expected.json</c>.</summary>
    public static string HuggingFaceFixture => DataFile("deepseek-v3-tiny-a");

    /// <summary>A file or folder under <see cref="Data"/>; fails with the path when it is missing.</summary>
    public static string DataFile(params string[] parts)
    {
        string path = Path.Combine(new[] { Data }.Concat(parts).ToArray());
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            throw new FileNotFoundException($"Test input '{path}' is missing from the repository's data folder.", path);
        }
        return path;
    }

    /// <summary>This test run's temporary folders' parent, deleted when the process exits.</summary>
    private static readonly Lazy<string> RunTempRoot = new(CreateRunTempRoot);

    /// <summary>A new empty temporary folder, unique to the caller; the run's folders are deleted when the test process exits.</summary>
    public static string NewTempDirectory()
    {
        string path = Path.Combine(RunTempRoot.Value, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    private static string CreateRunTempRoot()
    {
        string parent = Path.Combine(Path.GetTempPath(), "mlnet-moe-tests");
        string root = Path.Combine(parent, $"run-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(root);
        // Folders left by runs that were killed (no exit handler ran): older than a day, nobody uses them any more.
        foreach (string stale in Directory.EnumerateDirectories(parent))
        {
            if (stale != root && Directory.GetLastWriteTimeUtc(stale) < DateTime.UtcNow.AddDays(-1)) TryDelete(stale);
        }
        return root;
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A file still open or mapped at exit: the folder stays for the next run's sweep of day-old folders.
        }
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
