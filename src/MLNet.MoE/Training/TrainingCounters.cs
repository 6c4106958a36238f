namespace MLNet.MoE;

/// <summary>The running sums of the current report window and the run's counters, as a checkpoint stores them.</summary>
internal sealed record TrainingCounters
{
    /// <summary>Sum of the micro-batch cross-entropies since the last report.</summary>
    public double LossSum { get; init; }

    /// <summary>Micro-batches summed in <see cref="LossSum"/>.</summary>
    public int LossTerms { get; init; }

    /// <summary>Dropped token-expert assignments since the last report.</summary>
    public double DroppedSum { get; init; }

    /// <summary>Token-expert assignments made since the last report.</summary>
    public long AssignmentsInWindow { get; init; }

    /// <summary>Training tokens since the last report.</summary>
    public long TokensInWindow { get; init; }

    /// <summary>Training tokens since the run started.</summary>
    public long TokensSeen { get; init; }

    /// <summary>Per MoE layer, tokens routed to each expert since the last report.</summary>
    public IReadOnlyDictionary<int, float[]> LoadSums { get; init; } = new Dictionary<int, float[]>();

    /// <summary>Steps skipped for a non-finite loss or gradient, in the whole run.</summary>
    public int SkippedSteps { get; init; }

    /// <summary>Skipped steps in a row, up to now.</summary>
    public int ConsecutiveSkippedSteps { get; init; }

    internal void Write(BinaryWriter writer)
    {
        writer.Write(LossSum);
        writer.Write(LossTerms);
        writer.Write(DroppedSum);
        writer.Write(AssignmentsInWindow);
        writer.Write(TokensInWindow);
        writer.Write(TokensSeen);
        writer.Write(SkippedSteps);
        writer.Write(ConsecutiveSkippedSteps);
        writer.Write(LoadSums.Count);
        foreach (var (layer, sums) in LoadSums)
        {
            writer.Write(layer);
            writer.Write(sums.Length);
            foreach (float v in sums) writer.Write(v);
        }
    }

    internal static TrainingCounters Read(BinaryReader reader)
    {
        var counters = new TrainingCounters
        {
            LossSum = reader.ReadDouble(),
            LossTerms = reader.ReadInt32(),
            DroppedSum = reader.ReadDouble(),
            AssignmentsInWindow = reader.ReadInt64(),
            TokensInWindow = reader.ReadInt64(),
            TokensSeen = reader.ReadInt64(),
            SkippedSteps = reader.ReadInt32(),
            ConsecutiveSkippedSteps = reader.ReadInt32(),
        };
        int layers = reader.ReadInt32();
        if (layers < 0 || layers > 100_000) throw new InvalidDataException($"Corrupt training counters ({layers} layers).");
        var loads = new Dictionary<int, float[]>();
        for (int i = 0; i < layers; i++)
        {
            int layer = reader.ReadInt32();
            int experts = reader.ReadInt32();
            if (experts < 0 || experts > 1_000_000) throw new InvalidDataException($"Corrupt training counters ({experts} experts).");
            var sums = new float[experts];
            for (int e = 0; e < experts; e++) sums[e] = reader.ReadSingle();
            loads[layer] = sums;
        }
        return counters with { LoadSums = loads };
    }
}
