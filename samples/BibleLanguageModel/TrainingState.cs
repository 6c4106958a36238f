using MLNet.MoE.Training;

/// <summary>What a run has done so far: saved beside each checkpoint, read back on resume, drawn in the charts.</summary>
internal sealed class TrainingState
{
    public int TotalSteps { get; set; }

    public int StepsDone { get; set; }

    public List<ProgressPoint> Reports { get; set; } = new();

    public List<ValidationPoint> Validation { get; set; } = new();
}

/// <summary>One progress report, with the step counted from the start of the run.</summary>
internal sealed record ProgressPoint(int Step, double Loss, double LearningRate, Dictionary<int, double[]> ExpertLoadShares)
{
    public static ProgressPoint From(TrainingProgress progress, int stepsBefore) =>
        new(progress.Step + stepsBefore, progress.Loss, progress.LearningRate, progress.ExpertLoadShares.ToDictionary(kv => kv.Key, kv => kv.Value));
}

/// <summary>The held-out verses' cross-entropy at a checkpoint.</summary>
internal sealed record ValidationPoint(int Step, double CrossEntropy, double BitsPerByte);
