namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>A temporary folder deleted when the test ends.</summary>
internal sealed class TempFolder : IDisposable
{
    /// <summary>The folder's path.</summary>
    public string Path { get; } = TestPaths.NewTempDirectory();

    /// <summary>The names of the files now in the folder, sorted.</summary>
    public string[] FileNames() =>
        Directory.EnumerateFiles(Path).Select(f => System.IO.Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Deletes the folder.</summary>
    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
