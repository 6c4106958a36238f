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
