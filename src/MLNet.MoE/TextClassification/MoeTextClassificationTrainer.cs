using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;

namespace MLNet.MoE;

/// <summary>
/// Trains a Mixture-of-Experts text classifier on one or two text columns and a key-typed label and returns a
/// <see cref="MoeTextClassificationTransformer"/> that adds <c>PredictedLabel</c> and <c>Score</c> (class
/// probabilities), the columns <c>mlContext.MulticlassClassification.Evaluate</c> reads.
/// Rows with a missing label (key 0) are skipped and counted in the log; empty texts are classified like any other
/// row (from their end-of-text tokens alone). Classes of the label's key type that no training row has keep an output,
/// trained only as a wrong answer (a warning names them). Created by
/// <c>mlContext.MulticlassClassification.Trainers.MoeTextClassification(...)</c>.
/// </summary>
internal sealed class MoeTextClassificationTrainer : MoeTrainerBase<MoeTextClassificationOptions, MoeTextClassificationTransformer>
{
    internal MoeTextClassificationTrainer(IHostEnvironment env, MoeTextClassificationOptions options)
        : base(env, options)
    {
    }


    /// <summary>Checks the columns, trains, and returns the transformer.</summary>
    protected override MoeTextClassificationTransformer Train(IDataView input)
    {
        var label = RequireKeyLabel(input.Schema, Options.LabelColumnName);
        int classCount = checked((int)((KeyDataViewType)label.Type).Count);
        var text = SchemaChecks.RequireText(input.Schema, Options.TextColumnName, "Text");
        var second = Options.SecondTextColumnName is { } s ? SchemaChecks.RequireText(input.Schema, s, "SecondText") : (DataViewSchema.Column?)null;
        var keyValues = LabelKeyValues.From(label);
        using var session = StartSession();
        var (channel, seed, device, kernels) = (session.Channel, session.Seed, session.Device, session.Kernels);
        var (firstBackbone, tokenizer) = TextClassificationBackbone.Create(Options, seed);
        MoeCausalLM? backbone = firstBackbone;
        var members = new List<MoeTextClassifier>();
        try
        {
            var (rows, skipped) = ReadRows(input, label, text, second, tokenizer);
            if (skipped > 0) channel.Info($"Skipped {skipped} rows with a missing label in column '{Options.LabelColumnName}'.");
            if (rows.Count == 0) throw new InvalidOperationException($"Label column '{Options.LabelColumnName}' holds no labelled rows: nothing to train on.");
            var present = rows.Select(r => r.Label).Distinct().Count();
            if (present < 2)
                throw new InvalidOperationException($"Label column '{Options.LabelColumnName}' holds a single class in the training rows ({rows.Count} rows): a classifier needs rows of at least two classes.");
            var absent = Enumerable.Range(0, classCount).Except(rows.Select(r => r.Label)).ToList();
            if (absent.Count > 0)
                channel.Warning($"{absent.Count} of the {classCount} classes of label column '{Options.LabelColumnName}' have no training row (keys {string.Join(", ", absent.Take(20).Select(a => a + 1))}): they are learned only as wrong answers and get low probabilities.");
            var (training, validation) = Split(rows, Options.ValidationFraction, seed);
            channel.Info(string.Format(CultureInfo.InvariantCulture,
                "{0} labelled rows: {1} for training and {2} for validation (ValidationFraction {3:0.###} of the rows held out; set it to 0 for a training set split already).",
                rows.Count, training.Count, validation.Count, Options.ValidationFraction));
            int batchesPerEpoch = (training.Count + Options.BatchSize - 1) / Options.BatchSize;
            int epochs = Options.EpochsFor(training.Count);
            int steps = Options.MaxSteps > 0 ? Options.MaxSteps : epochs * batchesPerEpoch;
            if (Options.MaxSteps == 0 && Options.Epochs == 0)
                channel.Info($"Epochs 0: {epochs} epochs for {training.Count} training rows (about {MoeTextClassificationOptions.RowPassesPerTraining:N0} row passes, between 2 and 10).");
            int size = Options.EnsembleSize;
            var summaries = new List<TextClassificationTrainingSummary>();
            for (int member = 1; member <= size; member++)
            {
                // Member m is what a single training with seed + m - 1 makes: its own random backbone (if any), head, batch order and dropout.
                int memberSeed = unchecked(seed + member - 1);
                if (backbone == null)
                {
                    torch.manual_seed(memberSeed);
                    backbone = TextClassificationBackbone.Create(Options, memberSeed).Model;
                }
                string? resume = ResolveResume(channel, member, size);
                if (Options.LanguageModelSteps > 0 && resume == null) AdaptBackbone(backbone, training, tokenizer.EndOfTextId, device, memberSeed, kernels, channel);
                else if (Options.LanguageModelSteps > 0) channel.Info("LanguageModelSteps: not repeated; the checkpoint holds the adapted backbone.");
                var model = new MoeTextClassifier(backbone, classCount, Options.Pooling, Options.Dropout, memberSeed, Options.HeadHiddenSize, Options.NgramBuckets);
                backbone = null;
                members.Add(model);
                model.to(device);
                if (Options.Lora is { } lora) model.AttachAdapters(LoraAdapters.Create(model.Backbone, lora, memberSeed, "MoeTextClassificationOptions.Lora"));
                channel.Info(string.Format(CultureInfo.InvariantCulture,
                    "Training {0}a {1}-class MoE text classifier ({2:N2}M-parameter backbone) on {3}: {4} training and {5} validation rows, up to {6} steps of {7} rows, tokens per row ≤ {8} (mean {9:F1}).",
                    size > 1 ? $"member {member} of {size}, seed {memberSeed}: " : "", classCount, model.Backbone.Config.ParameterCount() / 1e6, device, training.Count, validation.Count, steps,
                    Options.BatchSize, Options.MaxLength, rows.Average(r => r.Ids.Length)));
                string? checkpoints = Options.TrainingCheckpointDirectory is { } directory && size > 1 ? MemberDirectory(directory, member) : Options.TrainingCheckpointDirectory;
                var settings = new TextClassificationTrainingSettings(Options, steps, memberSeed, session.ComputeType, kernels, member, tokenizer.EndOfTextId, checkpoints, resume);
                void Report(TextClassificationProgress progress)
                {
                    channel.Info((size > 1 ? $"member {progress.Member}/{size}: " : "") + Format(progress));
                    Options.Progress?.Report(progress);
                }
                var loop = new TextClassificationTrainingLoop(model, settings, device);
                // A finished member of an interrupted ensemble is reloaded; a single classifier's finished checkpoint is refused by Run.
                var summary = (size > 1 && resume != null ? loop.TryLoadFinished(resume, training, validation) : null)
                    ?? loop.Run(training, validation, Report);
                summary = summary with { SkippedRows = skipped };
                model.MergeAdapters();
                summaries.Add(summary);
                if (validation.Count > 0)
                    channel.Info(string.Format(CultureInfo.InvariantCulture, "{0}Kept the weights of step {1}: validation loss {2:F4}, accuracy {3:P1}{4}.",
                        size > 1 ? $"Member {member}: " : "", summary.KeptStep, summary.ValidationLoss, summary.ValidationAccuracy, summary.StoppedEarly ? " (stopped early)" : ""));
            }
            var result = size == 1 ? summaries[0] : EnsembleSummary(members, summaries, training, validation, skipped, tokenizer.EndOfTextId, Math.Max(Options.BatchSize, 32), channel);
            var columns = new TextClassificationSettings(Options.TextColumnName, Options.SecondTextColumnName, Options.PredictedLabelColumnName,
                Options.ScoreColumnName, Options.MaxLength, members[0].ClassCount, Options.NgramBuckets);
            return new MoeTextClassificationTransformer(members, tokenizer, columns, keyValues, result);
        }
        catch
        {
            foreach (var model in members) model.Dispose();
            backbone?.Dispose();
            throw;
        }
    }

    /// <summary>The folder of ensemble member <paramref name="member"/>'s training checkpoints inside <see cref="MoeTextClassificationOptions.TrainingCheckpointDirectory"/>.</summary>
    public static string MemberDirectory(string trainingCheckpointDirectory, int member) => Path.Combine(trainingCheckpointDirectory, $"member-{member:D2}");

    /// <summary>The summary of an ensemble: every member's steps and reports, and the averaged probabilities' validation figures.</summary>
    private static TextClassificationTrainingSummary EnsembleSummary(IReadOnlyList<MoeTextClassifier> members, List<TextClassificationTrainingSummary> summaries,
        IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> training, IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> validation, long skipped, int padId, int batchSize, IChannel channel)
    {
        double loss = double.NaN, accuracy = double.NaN;
        if (validation.Count > 0)
        {
            (loss, accuracy) = TextClassificationTrainingLoop.Score(TextClassificationBatches.EnsembleProbabilities(members, validation.Select(r => r.Ids).ToList(), validation.Select(r => r.Ngrams).ToList(), batchSize, padId), validation);
            channel.Info(string.Format(CultureInfo.InvariantCulture, "Ensemble of {0}: validation loss {1:F4}, accuracy {2:P1}.", members.Count, loss, accuracy));
        }
        return new TextClassificationTrainingSummary
        {
            Steps = summaries.Sum(s => s.Steps),
            TrainingRows = training.Count,
            ValidationRows = validation.Count,
            SkippedRows = skipped,
            KeptStep = 0,
            ValidationLoss = loss,
            ValidationAccuracy = accuracy,
            StoppedEarly = summaries.Any(s => s.StoppedEarly),
            Kernels = summaries[0].Kernels,
            Members = summaries,
            History = summaries.SelectMany(s => s.History).ToList(),
        };
    }

    /// <summary>
    /// Language-model training of the backbone on the training rows' text (each row preceded by the end-of-text id, as
    /// the language-model trainer packs documents), before the classifier is built on it.
    /// </summary>
    private void AdaptBackbone(MoeCausalLM backbone, IReadOnlyList<(int[] Ids, int[] Ngrams, int Label)> training, int endOfText, torch.Device device, int seed, KernelSet kernels, IChannel channel)
    {
        var stream = training.SelectMany(r => r.Ids.Prepend(endOfText)).ToArray();
        int context = Math.Min(Options.MaxLength, backbone.Config.MaxPositionEmbeddings);
        if (stream.Length < context + 2) context = Math.Max(1, stream.Length - 2);
        if (context < 2)
        {
            channel.Warning($"LanguageModelSteps: the training rows hold {stream.Length} tokens, too few for language-model training; skipped.");
            return;
        }
        backbone.to(device);
        var settings = new LanguageModelTrainingSettings
        {
            ContextLength = context,
            BatchSize = Options.BatchSize,
            Steps = Options.LanguageModelSteps,
            Optimizer = Options.ToOptimizerSettings() with { WarmupSteps = Math.Min(Options.WarmupSteps, Options.LanguageModelSteps / 10) },
            Seed = seed,
            Routing = Options.ToRoutingSettings(),
            LogEverySteps = Math.Max(1, Options.LanguageModelSteps / 5),
            Kernels = kernels,
        };
        new LanguageModelTrainingLoop(backbone, settings, device).Run(stream, Array.Empty<int>(), progress =>
            channel.Info(string.Format(CultureInfo.InvariantCulture, "Language-model adaptation on the training text: step {0}/{1}, loss {2:F4}.", progress.Step, progress.TotalSteps, progress.Loss)));
        channel.Info(string.Format(CultureInfo.InvariantCulture, "Adapted the backbone with {0} language-model steps on {1:N0} tokens of training text.", Options.LanguageModelSteps, stream.Length));
    }

    /// <summary>
    /// The checkpoint a member resumes from: a single classifier takes <see cref="MoeTrainerOptions.ResumeFrom"/>
    /// (a file, or a folder's newest); an ensemble member takes the newest in its own sub-folder of that folder.
    /// </summary>
    private string? ResolveResume(IChannel channel, int member, int size)
    {
        if (Options.ResumeFrom is not { } resume) return null;
        if (size == 1 && File.Exists(resume)) return resume;
        string folder = size == 1 ? resume : MemberDirectory(resume, member);
        string? latest = TextClassificationTrainingLoop.LatestCheckpoint(folder);
        channel.Info(latest != null ? $"Resuming from {latest}." : $"No classifier checkpoint in '{folder}': training starts fresh.");
        return latest;
    }

    /// <summary>The input schema plus <c>PredictedLabel</c> (the label's key type) and <c>Score</c> (vector of Single, one per class).</summary>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        if (!inputSchema.TryFindColumn(Options.LabelColumnName, out var label))
            throw new ArgumentOutOfRangeException("Label", $"Label column '{Options.LabelColumnName}' was not found in the input schema.");
        if (!label.IsKey || label.Kind != SchemaShape.Column.VectorKind.Scalar)
            throw new ArgumentOutOfRangeException("Label", $"Label column '{Options.LabelColumnName}' must be a key type (map it with mlContext.Transforms.Conversion.MapValueToKey), but is {label.ItemType}.");
        SchemaChecks.RequireText(inputSchema, Options.TextColumnName, "Text");
        if (Options.SecondTextColumnName != null) SchemaChecks.RequireText(inputSchema, Options.SecondTextColumnName, "SecondText");
        var columns = inputSchema.ToDictionary(c => c.Name);
        label.Annotations.TryFindColumn(AnnotationUtils.Kinds.KeyValues, out var keyValues);
        var predictedAnnotations = keyValues.IsValid ? new SchemaShape(new[] { keyValues }) : new SchemaShape(Array.Empty<SchemaShape.Column>());
        columns[Options.PredictedLabelColumnName] = new SchemaShape.Column(Options.PredictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true, predictedAnnotations);
        columns[Options.ScoreColumnName] = new SchemaShape.Column(Options.ScoreColumnName, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false);
        return new SchemaShape(columns.Values);
    }

    private static DataViewSchema.Column RequireKeyLabel(DataViewSchema schema, string name)
    {
        var column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException("Label", $"Label column '{name}' was not found in the input schema (columns: {string.Join(", ", schema.Select(c => c.Name))}).");
        if (column.Type is not KeyDataViewType key || key.RawType != typeof(uint))
            throw new ArgumentOutOfRangeException("Label", $"Label column '{name}' must be a key type of UInt32 (map it with mlContext.Transforms.Conversion.MapValueToKey), but is {column.Type}.");
        if (key.Count < 2)
            throw new ArgumentOutOfRangeException("Label", $"Label column '{name}' has a key type of {key.Count} value(s): a classifier needs at least two classes.");
        if (key.Count > int.MaxValue)
            throw new ArgumentOutOfRangeException("Label", $"Label column '{name}' has {key.Count} classes, more than a classifier can hold.");
        return column;
    }

    private (List<(int[] Ids, int[] Ngrams, int Label)> Rows, long Skipped) ReadRows(IDataView input, DataViewSchema.Column label, DataViewSchema.Column text, DataViewSchema.Column? second, MoeTokenizer tokenizer)
    {
        var rows = new List<(int[] Ids, int[] Ngrams, int Label)>();
        long skipped = 0;
        var columns = new List<DataViewSchema.Column> { label, text };
        if (second is { } s) columns.Add(s);
        using var cursor = input.GetRowCursor(columns);
        var labelGetter = cursor.GetGetter<uint>(label);
        var textGetter = cursor.GetGetter<ReadOnlyMemory<char>>(text);
        var secondGetter = second is { } c ? cursor.GetGetter<ReadOnlyMemory<char>>(c) : null;
        uint key = 0;
        ReadOnlyMemory<char> first = default, other = default;
        while (cursor.MoveNext())
        {
            labelGetter(ref key);
            if (key == 0)
            {
                skipped++;
                continue;
            }
            textGetter(ref first);
            secondGetter?.Invoke(ref other);
            string row = first.ToString();
            string? secondRow = secondGetter != null ? other.ToString() : null;
            rows.Add((TextClassificationTokens.Encode(tokenizer, row, secondRow, Options.MaxLength), TextClassificationNgrams.Hash(row, secondRow, Options.NgramBuckets), (int)key - 1));
        }
        return (rows, skipped);
    }

    private static (List<(int[] Ids, int[] Ngrams, int Label)> Training, List<(int[] Ids, int[] Ngrams, int Label)> Validation) Split(List<(int[] Ids, int[] Ngrams, int Label)> rows, double fraction, int seed)
    {
        int validationCount = (int)Math.Floor(rows.Count * fraction);
        if (validationCount == 0) return (rows, new List<(int[] Ids, int[] Ngrams, int Label)>());
        var order = Enumerable.Range(0, rows.Count).ToArray();
        new Random(seed).Shuffle(order);
        var validation = order.Take(validationCount).Select(i => rows[i]).ToList();
        var training = order.Skip(validationCount).Select(i => rows[i]).ToList();
        return (training, validation);
    }

    private static string Format(TextClassificationProgress p)
    {
        var text = string.Format(CultureInfo.InvariantCulture, "step {0}/{1} (epoch {2})  loss {3:F4}  lr {4:E2}  {5:N0} rows/s", p.Step, p.TotalSteps, p.Epoch, p.Loss, p.LearningRate, p.RowsPerSecond);
        if (p.ValidationLoss is double v) text += string.Format(CultureInfo.InvariantCulture, "  validation loss {0:F4} accuracy {1:P1}", v, p.ValidationAccuracy ?? double.NaN);
        if (p.CheckpointPath is { } checkpoint) text += $"  checkpoint {checkpoint}";
        return text;
    }
}
