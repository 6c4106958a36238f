using MLNet.MoE.Modeling;

namespace MLNet.MoE.Training;

/// <summary>
/// Everything a training run needs to continue exactly where it stopped: weights (with the routing biases), AdamW
/// state, the step, the batch sampler's random state, the progress accumulators and history, and a fingerprint of the
/// training data so a checkpoint is never resumed on other data. One file, written atomically.
/// </summary>
public sealed class TrainingCheckpoint
{
    private const string Magic = "MLNET-MOE-TRAINING-CHECKPOINT";
    private const int FormatVersion = 1;

    /// <summary>The model config JSON the checkpoint was made with.</summary>
    public required string ConfigJson { get; init; }

    /// <summary>Fingerprint of the training token stream (length and hash).</summary>
    public required DataFingerprint Data { get; init; }

    /// <summary>Optimizer steps completed.</summary>
    public required int Step { get; init; }

    /// <summary>State of the window sampler's random generator.</summary>
    public required ulong SamplerState { get; init; }

    /// <summary>Progress accumulators of the open report window, and counters.</summary>
    public required TrainingCounters Counters { get; init; }

    /// <summary>Reports made so far.</summary>
    public required IReadOnlyList<TrainingProgress> History { get; init; }

    /// <summary>Writes the checkpoint with the model's weights and the optimizer's state to <paramref name="path"/> atomically.</summary>
    public void Write(string path, MoeCausalLM model, FlatAdamW optimizer)
    {
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write(ConfigJson);
            writer.Write(Data.Length);
            writer.Write(Data.Hash);
            writer.Write(Step);
            writer.Write(SamplerState);
            Counters.Write(writer);
            writer.Write(History.Count);
            foreach (var p in History) TrainingProgressFormat.Write(writer, p);
            ModelWeightsFormat.Write(writer, model);
            optimizer.Save(writer);
        });
    }

    /// <summary>Reads the header of a checkpoint (everything but weights and optimizer state).</summary>
    public static TrainingCheckpoint ReadHeader(string path) => Read(path, null, null);

    /// <summary>Reads a checkpoint and, when given, loads its weights into <paramref name="model"/> and its state into <paramref name="optimizer"/>.</summary>
    public static TrainingCheckpoint Read(string path, MoeCausalLM? model, FlatAdamW? optimizer)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Training checkpoint '{path}' does not exist.", path);
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        try
        {
            if (reader.ReadString() != Magic) throw new InvalidDataException($"'{path}' is not an MLNet.MoE training checkpoint.");
            int version = reader.ReadInt32();
            if (version != FormatVersion) throw new InvalidDataException($"Training checkpoint '{path}' has format version {version}; this version of MLNet.MoE reads {FormatVersion}.");
            string config = reader.ReadString();
            var data = new DataFingerprint(reader.ReadInt64(), reader.ReadUInt64());
            int step = reader.ReadInt32();
            ulong sampler = reader.ReadUInt64();
            var counters = TrainingCounters.Read(reader);
            int count = reader.ReadInt32();
            if (count < 0 || count > 10_000_000) throw new InvalidDataException($"Training checkpoint '{path}' is corrupt (history of {count} reports).");
            var history = new List<TrainingProgress>(count);
            for (int i = 0; i < count; i++) history.Add(TrainingProgressFormat.Read(reader));
            var checkpoint = new TrainingCheckpoint { ConfigJson = config, Data = data, Step = step, SamplerState = sampler, Counters = counters, History = history };
            if (model != null) ModelWeightsFormat.Read(reader, model, path);
            optimizer?.Load(reader);
            return checkpoint;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"Training checkpoint '{path}' is truncated.", e);
        }
    }
}
