
namespace MLNet.MoE;

/// <summary>
/// Everything a language-model training run needs to continue exactly where it stopped: weights (with the routing
/// biases), AdamW state, the step, the batch sampler's random state, the progress accumulators and history, and a
/// fingerprint of the training data so a checkpoint is never resumed on other data. One file, written atomically.
/// </summary>
internal sealed class LanguageModelCheckpoint : RunCheckpoint<LanguageModelProgress>
{
    private const string Magic = "MLNET-MOE-TRAINING-CHECKPOINT";
    private const int FormatVersion = 1;
    private const string Kind = "Training checkpoint";

    /// <summary>State of the window sampler's random generator.</summary>
    public required ulong SamplerState { get; init; }

    /// <summary>Progress accumulators of the open report window, and counters.</summary>
    public required TrainingCounters Counters { get; init; }

    /// <summary>Writes the checkpoint with the trained tensors (the model's state, or its LoRA factors) and the optimizer's state to <paramref name="path"/> atomically.</summary>
    public void Write(string path, IReadOnlyDictionary<string, TorchSharp.torch.Tensor> trained, FlatAdamW optimizer)
    {
        CheckpointEnvelope.Write(path, Magic, FormatVersion, writer =>
        {
            writer.Write(ConfigJson);
            writer.Write(Data.Length);
            writer.Write(Data.Hash);
            writer.Write(Step);
            writer.Write(SamplerState);
            Counters.Write(writer);
            writer.Write(History.Count);
            foreach (var p in History) LanguageModelProgressFormat.Write(writer, p);
            ModelWeightsFormat.Write(writer, trained);
            optimizer.Save(writer);
        });
    }

    /// <summary>Reads the header of a checkpoint (everything but weights and optimizer state).</summary>
    public static LanguageModelCheckpoint ReadHeader(string path) => Read(path, null, null);

    /// <summary>Reads a checkpoint and, when given, loads its trained tensors into <paramref name="trained"/> and its state into <paramref name="optimizer"/>.</summary>
    public static LanguageModelCheckpoint Read(string path, IReadOnlyDictionary<string, TorchSharp.torch.Tensor>? trained, FlatAdamW? optimizer) =>
        CheckpointEnvelope.Read(path, Magic, FormatVersion, Kind, reader =>
        {
            string config = reader.ReadString();
            var data = new DataFingerprint(reader.ReadInt64(), reader.ReadUInt64());
            int step = reader.ReadInt32();
            ulong sampler = reader.ReadUInt64();
            var counters = TrainingCounters.Read(reader);
            int count = CheckpointEnvelope.ReadHistoryCount(reader, path, Kind);
            var history = new List<LanguageModelProgress>(count);
            for (int i = 0; i < count; i++) history.Add(LanguageModelProgressFormat.Read(reader));
            var checkpoint = new LanguageModelCheckpoint { ConfigJson = config, Data = data, Step = step, SamplerState = sampler, Counters = counters, History = history };
            if (trained != null) ModelWeightsFormat.Read(reader, trained, path);
            optimizer?.Load(reader);
            return checkpoint;
        });
}
