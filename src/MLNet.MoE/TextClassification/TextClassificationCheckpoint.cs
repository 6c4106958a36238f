using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Everything a text-classifier training run needs to continue exactly where it stopped: the classifier's weights (backbone
/// with its routing biases, and head), the best weights so far with their validation figures, AdamW state, the step and
/// position in the epoch's batch order, the dropout generator, the open report window and the history, and fingerprints
/// of the architecture and of the training and validation rows so a checkpoint is never resumed on another model or
/// other data. One file, written atomically.
/// </summary>
internal sealed class TextClassificationCheckpoint : RunCheckpoint<TextClassificationProgress>
{
    private const string Magic = "MLNET-MOE-CLASSIFIER-CHECKPOINT";
    // 2: the wide branch's n-gram buckets follow the head's hidden size.
    private const int FormatVersion = 2;
    private const string Kind = "Classifier training checkpoint";

    /// <summary>Classes of the head.</summary>
    public required int ClassCount { get; init; }

    /// <summary>Pooling of the classifier.</summary>
    public required TextPooling Pooling { get; init; }

    /// <summary>Width of the classifier's hidden head layer (0: none).</summary>
    public required int HeadHiddenSize { get; init; }

    /// <summary>Buckets of the classifier's wide branch of hashed n-grams (0: none).</summary>
    public required int NgramBuckets { get; init; }

    /// <summary>Epoch (1-based) of the last completed step.</summary>
    public required int Epoch { get; init; }

    /// <summary>Batches of that epoch already trained on.</summary>
    public required int BatchesDoneInEpoch { get; init; }

    /// <summary>The open report window and the early-stopping state.</summary>
    public required TextClassificationTrainingState State { get; init; }

    /// <summary>
    /// Writes the checkpoint to <paramref name="path"/> atomically: this header, the model's weights, the best weights
    /// (when there are any), the optimizer's state and the dropout generator's state.
    /// </summary>
    public void Write(string path, MoeTextClassifier model, IReadOnlyDictionary<string, Tensor>? best, FlatAdamW optimizer)
    {
        CheckpointEnvelope.Write(path, Magic, FormatVersion, writer =>
        {
            writer.Write(ConfigJson);
            writer.Write(ClassCount);
            writer.Write((int)Pooling);
            writer.Write(HeadHiddenSize);
            writer.Write(NgramBuckets);
            writer.Write(Data.Length);
            writer.Write(Data.Hash);
            writer.Write(Step);
            writer.Write(Epoch);
            writer.Write(BatchesDoneInEpoch);
            State.Write(writer);
            writer.Write(History.Count);
            foreach (var p in History) WriteProgress(writer, p);
            ModelWeightsFormat.Write(writer, model.TrainingState());
            writer.Write(best != null);
            if (best != null) ModelWeightsFormat.Write(writer, best);
            optimizer.Save(writer);
            using var generator = model.DropoutGeneratorState;
            var bytes = generator.data<byte>().ToArray();
            writer.Write(bytes.Length);
            writer.Write(bytes);
        });
    }

    /// <summary>Reads the header of a checkpoint (everything but weights, optimizer and generator state).</summary>
    public static TextClassificationCheckpoint ReadHeader(string path) => Read(path, null, null, null);

    /// <summary>
    /// Reads a checkpoint; when <paramref name="model"/> is given, loads its weights, the best weights into
    /// <paramref name="best"/> (an empty dictionary that receives tensors on the model's device, or stays empty when the
    /// checkpoint has none), the optimizer state (skipped when <paramref name="optimizer"/> is null) and the dropout
    /// generator's state. The caller checks the header against its run first
    /// by reading it with <see cref="ReadHeader"/>.
    /// </summary>
    public static TextClassificationCheckpoint Read(string path, MoeTextClassifier? model, Dictionary<string, Tensor>? best, FlatAdamW? optimizer) =>
        CheckpointEnvelope.Read(path, Magic, FormatVersion, Kind, reader =>
        {
            string config = reader.ReadString();
            int classCount = reader.ReadInt32();
            var pooling = (TextPooling)reader.ReadInt32();
            int headHiddenSize = reader.ReadInt32();
            int ngramBuckets = reader.ReadInt32();
            var data = new DataFingerprint(reader.ReadInt64(), reader.ReadUInt64());
            int step = reader.ReadInt32();
            int epoch = reader.ReadInt32();
            int batchesDone = reader.ReadInt32();
            var state = TextClassificationTrainingState.Read(reader);
            int count = CheckpointEnvelope.ReadHistoryCount(reader, path, Kind);
            var history = new List<TextClassificationProgress>(count);
            for (int i = 0; i < count; i++) history.Add(ReadProgress(reader));
            var checkpoint = new TextClassificationCheckpoint
            {
                ConfigJson = config, ClassCount = classCount, Pooling = pooling, HeadHiddenSize = headHiddenSize, NgramBuckets = ngramBuckets, Data = data, Step = step, Epoch = epoch,
                BatchesDoneInEpoch = batchesDone, State = state, History = history,
            };
            if (model == null) return checkpoint;
            ModelWeightsFormat.Read(reader, model.TrainingState(), path);
            if (reader.ReadBoolean())
            {
                if (best == null) throw new ArgumentNullException(nameof(best), "A dictionary for the best weights is needed to read a checkpoint's weights.");
                using (torch.no_grad())
                {
                    foreach (var (name, tensor) in model.TrainingState()) best.Add(name, torch.empty_like(tensor).DetachFromDisposeScope());
                }
                ModelWeightsFormat.Read(reader, best, path);
            }
            if (optimizer != null) optimizer.Load(reader);
            else FlatAdamW.SkipState(reader);
            int length = reader.ReadInt32();
            if (length < 0 || length > 1 << 20) throw new InvalidDataException($"{Kind} '{path}' is corrupt (dropout generator state of {length} bytes).");
            byte[] bytes = reader.ReadBytes(length);
            if (bytes.Length != length) throw new EndOfStreamException();
            using var generator = torch.tensor(bytes, dtype: ScalarType.Byte);
            model.DropoutGeneratorState = generator;
            return checkpoint;
        });

    private static void WriteProgress(BinaryWriter writer, TextClassificationProgress p)
    {
        writer.Write(p.Step);
        writer.Write(p.TotalSteps);
        writer.Write(p.Epoch);
        writer.Write(p.Loss);
        writer.Write(p.LearningRate);
        writer.Write(p.RowsPerSecond);
        writer.Write(p.ValidationLoss.HasValue);
        writer.Write(p.ValidationLoss ?? 0);
        writer.Write(p.ValidationAccuracy.HasValue);
        writer.Write(p.ValidationAccuracy ?? 0);
        writer.Write(p.Elapsed.Ticks);
        writer.Write(p.CheckpointPath ?? "");
    }

    private static TextClassificationProgress ReadProgress(BinaryReader reader)
    {
        int step = reader.ReadInt32();
        int total = reader.ReadInt32();
        int epoch = reader.ReadInt32();
        double loss = reader.ReadDouble();
        double lr = reader.ReadDouble();
        double rows = reader.ReadDouble();
        bool hasLoss = reader.ReadBoolean();
        double validationLoss = reader.ReadDouble();
        bool hasAccuracy = reader.ReadBoolean();
        double validationAccuracy = reader.ReadDouble();
        long ticks = reader.ReadInt64();
        string checkpoint = reader.ReadString();
        return new TextClassificationProgress
        {
            Step = step, TotalSteps = total, Epoch = epoch, Loss = loss, LearningRate = lr, RowsPerSecond = rows,
            ValidationLoss = hasLoss ? validationLoss : null, ValidationAccuracy = hasAccuracy ? validationAccuracy : null,
            Elapsed = TimeSpan.FromTicks(ticks), CheckpointPath = checkpoint.Length > 0 ? checkpoint : null,
        };
    }
}
