namespace MLNet.MoE;

/// <summary>
/// When a training run writes its checkpoints and which it keeps: every <c>everySteps</c> steps and at the end of the
/// run, into one folder under <see cref="CheckpointFiles"/>' names, pruned to the newest <c>keep</c>.
/// </summary>
internal sealed class CheckpointRotation
{
    private readonly string prefix;
    private readonly string? directory;
    private readonly int everySteps;
    private readonly int keep;

    /// <summary>Rotation of the files named <paramref name="prefix"/> in <paramref name="directory"/> (null: no checkpoints).</summary>
    public CheckpointRotation(string prefix, string? directory, int everySteps, int keep)
    {
        this.prefix = prefix;
        this.directory = directory;
        this.everySteps = everySteps;
        this.keep = keep;
    }

    /// <summary>From a run's settings.</summary>
    public CheckpointRotation(string prefix, TrainingEngineSettings settings)
        : this(prefix, settings.CheckpointDirectory, settings.CheckpointEverySteps, settings.KeepCheckpoints)
    {
    }

    /// <summary>Whether <paramref name="step"/> writes a checkpoint; <paramref name="final"/>: the run ends with it.</summary>
    public bool Due(int step, bool final) => directory != null && everySteps > 0 && (step % everySteps == 0 || final);

    /// <summary>Has <paramref name="write"/> write the checkpoint of <paramref name="step"/> to its path (atomically), prunes the old ones, and returns the path.</summary>
    public string Write(int step, Action<string> write)
    {
        string folder = directory ?? throw new InvalidOperationException("No checkpoint folder is set.");
        Directory.CreateDirectory(folder);
        string path = CheckpointFiles.PathFor(folder, prefix, step);
        write(path);
        CheckpointFiles.Prune(folder, prefix, keep);
        return path;
    }
}
