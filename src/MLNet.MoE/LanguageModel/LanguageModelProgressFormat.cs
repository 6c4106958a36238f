namespace MLNet.MoE;

/// <summary>Binary form of <see cref="LanguageModelProgress"/> inside training checkpoints.</summary>
internal static class LanguageModelProgressFormat
{
    public static void Write(BinaryWriter writer, LanguageModelProgress p)
    {
        writer.Write(p.Step);
        writer.Write(p.TotalSteps);
        writer.Write(p.Loss);
        writer.Write(p.LearningRate);
        writer.Write(p.TokensPerSecond);
        writer.Write(p.ValidationLoss.HasValue);
        writer.Write(p.ValidationLoss ?? 0);
        writer.Write(p.DroppedFraction);
        writer.Write(p.Elapsed.Ticks);
        writer.Write(p.SkippedSteps);
        writer.Write(p.ExpertLoadMaxOverMean.Count);
        foreach (var (layer, value) in p.ExpertLoadMaxOverMean)
        {
            writer.Write(layer);
            writer.Write(value);
        }
    }

    public static LanguageModelProgress Read(BinaryReader reader)
    {
        int step = reader.ReadInt32();
        int total = reader.ReadInt32();
        double loss = reader.ReadDouble();
        double lr = reader.ReadDouble();
        double tps = reader.ReadDouble();
        bool hasValidation = reader.ReadBoolean();
        double validation = reader.ReadDouble();
        double dropped = reader.ReadDouble();
        long ticks = reader.ReadInt64();
        int skipped = reader.ReadInt32();
        int count = reader.ReadInt32();
        if (count < 0 || count > 100_000) throw new InvalidDataException($"Corrupt progress record ({count} layers).");
        var load = new Dictionary<int, double>();
        for (int i = 0; i < count; i++) load[reader.ReadInt32()] = reader.ReadDouble();
        return new LanguageModelProgress
        {
            Step = step, TotalSteps = total, Loss = loss, LearningRate = lr, TokensPerSecond = tps,
            ValidationLoss = hasValidation ? validation : null, DroppedFraction = dropped, Elapsed = TimeSpan.FromTicks(ticks),
            SkippedSteps = skipped, ExpertLoadMaxOverMean = load,
        };
    }
}
