namespace MLNet.MoE;

/// <summary>
/// The scalar state of a classifier training run between steps: the open report window's sums, the early-stopping
/// record (best validation loss, its accuracy and step, evaluations since) and the time trained so far. Saved in
/// <see cref="TextClassificationCheckpoint"/>.
/// </summary>
internal sealed record TextClassificationTrainingState
{
    /// <summary>Sum of the training losses since the last report.</summary>
    public double LossSum { get; set; }

    /// <summary>Steps summed in <see cref="LossSum"/>.</summary>
    public int LossTerms { get; set; }

    /// <summary>Training rows since the last report.</summary>
    public long RowsInWindow { get; set; }

    /// <summary>Lowest validation loss so far (+∞ before the first evaluation).</summary>
    public double BestLoss { get; set; } = double.PositiveInfinity;

    /// <summary>Validation accuracy at <see cref="BestLoss"/>.</summary>
    public double BestAccuracy { get; set; } = double.NaN;

    /// <summary>Step of <see cref="BestLoss"/>.</summary>
    public int BestStep { get; set; }

    /// <summary>Evaluations since the validation loss last improved.</summary>
    public int EvaluationsWithoutImprovement { get; set; }

    /// <summary>Training time before this run (a resumed run's earlier time).</summary>
    public TimeSpan Elapsed { get; set; }

    internal void Write(BinaryWriter writer)
    {
        writer.Write(LossSum);
        writer.Write(LossTerms);
        writer.Write(RowsInWindow);
        writer.Write(BestLoss);
        writer.Write(BestAccuracy);
        writer.Write(BestStep);
        writer.Write(EvaluationsWithoutImprovement);
        writer.Write(Elapsed.Ticks);
    }

    internal static TextClassificationTrainingState Read(BinaryReader reader) => new()
    {
        LossSum = reader.ReadDouble(),
        LossTerms = reader.ReadInt32(),
        RowsInWindow = reader.ReadInt64(),
        BestLoss = reader.ReadDouble(),
        BestAccuracy = reader.ReadDouble(),
        BestStep = reader.ReadInt32(),
        EvaluationsWithoutImprovement = reader.ReadInt32(),
        Elapsed = TimeSpan.FromTicks(reader.ReadInt64()),
    };
}
