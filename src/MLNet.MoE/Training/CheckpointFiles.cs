namespace MLNet.MoE;

/// <summary>Names, finds and prunes a training run's checkpoint files: <c>{prefix}{step:D8}.moeckpt</c> in one folder, so names sort by step.</summary>
internal static class CheckpointFiles
{
    private const string Extension = ".moeckpt";

    /// <summary>The path of the checkpoint of <paramref name="step"/>.</summary>
    public static string PathFor(string directory, string prefix, int step) => Path.Combine(directory, $"{prefix}{step:D8}{Extension}");

    /// <summary>The newest checkpoint in <paramref name="directory"/>, or null when it holds none (or does not exist).</summary>
    public static string? Latest(string directory, string prefix) => All(directory, prefix).LastOrDefault();

    /// <summary>Deletes all but the newest <paramref name="keep"/> checkpoints.</summary>
    public static void Prune(string directory, string prefix, int keep)
    {
        var files = All(directory, prefix);
        foreach (string stale in files.Take(Math.Max(0, files.Count - keep))) File.Delete(stale);
    }

    private static List<string> All(string directory, string prefix) =>
        Directory.Exists(directory)
            ? Directory.GetFiles(directory, prefix + "*" + Extension).OrderBy(f => f, StringComparer.Ordinal).ToList()
            : new List<string>();
}
