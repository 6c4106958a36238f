using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Trains a DeepSeek-style Mixture-of-Experts language model on a token-id column and returns a
/// <see cref="LanguageModelTransformer"/>. Rows are documents: empty or missing ones are skipped (and counted in the
/// log), the rest are packed into one stream with the end-of-text token before each, and training windows of
/// <see cref="LanguageModelOptions.ContextLength"/> tokens are drawn from it, so rows longer than the context are split
/// across windows. Given a <see cref="TokenStore"/> (<c>mlContext.MoE().LoadTokens</c>) as its input, it reads no rows:
/// windows are sampled from the store's memory map and validation scores the store's validation split. Created by
/// <c>mlContext.MoE().Trainers.LanguageModel(...)</c>.
/// </summary>
internal sealed class LanguageModelTrainer : MoeTrainerBase<LanguageModelOptions, LanguageModelTransformer>
{
    internal LanguageModelTrainer(IHostEnvironment env, LanguageModelOptions options)
        : base(env, options)
    {
    }


    /// <summary>Checks the columns, trains, and returns the transformer.</summary>
    protected override LanguageModelTransformer Train(IDataView input)
    {
        var tokenColumn = SchemaChecks.RequireTokenIds(input.Schema, Options.TokenColumnName, "Token");
        if (Options.PromptColumnName != null) SchemaChecks.RequireText(input.Schema, Options.PromptColumnName, "Prompt");
        MoeTokenizer tokenizer = TokenizerAnnotation.Resolve(Options.Tokenizer, tokenColumn, "LanguageModelOptions.Tokenizer")
            ?? throw new InvalidOperationException($"Token column '{Options.TokenColumnName}' carries no tokenizer: produce it with TokenizeForMoe, or set LanguageModelOptions.Tokenizer.");
        using var session = StartSession();
        var (channel, seed, device) = (session.Channel, session.Seed, session.Device);
        MoeModelConfig config = ResolveConfig(tokenizer);
        ITokenStream training;
        IReadOnlyList<int> validation;
        DataFingerprint data;
        long skipped = 0, trainingDocuments;
        if (input is TokenStore store)
        {
            // A token store is not read row by row: windows come from its memory map, validation from its own split.
            if (store.Info.VocabSize > config.VocabSize || store.Info.EndOfTextId != tokenizer.EndOfTextId)
                throw new InvalidOperationException($"Token store '{store.Directory}' holds ids of {store.Info.Tokenizer} ({store.Info.VocabSize} ids, end of text {store.Info.EndOfTextId}), not of the tokenizer {tokenizer.Name} ({tokenizer.VocabularySize} ids, end of text {tokenizer.EndOfTextId}).");
            (training, validation, data, trainingDocuments) = (store.Training, store.Validation, store.Fingerprint, store.Info.Train.Documents);
            channel.Info(string.Format(CultureInfo.InvariantCulture, "Training from token store '{0}' (identity {1}): its validation split ({2:0.###} of the documents) is used and LanguageModelOptions.ValidationFraction is not.",
                store.Directory, store.Info.Identity, store.Info.ValidationFraction));
        }
        else
        {
            var (documents, emptyRows) = TokenDocumentReader.Read(input, tokenColumn, config.VocabSize);
            skipped = emptyRows;
            if (skipped > 0) channel.Info($"Skipped {skipped} rows with empty or missing text in column '{Options.TokenColumnName}'.");
            var corpus = TokenCorpus.Pack(documents, tokenizer.EndOfTextId, Options.ValidationFraction, seed);
            training = new ArrayTokenStream(corpus.Training);
            validation = corpus.Validation;
            data = DataFingerprint.Of(corpus.Training);
            trainingDocuments = corpus.TrainingDocuments;
        }
        if (training.Length < 2)
            throw new InvalidOperationException($"Column '{Options.TokenColumnName}' holds no training tokens ({trainingDocuments} training documents).");
        int steps = Options.MaxSteps > 0
            ? Options.MaxSteps
            : StepsForEpochs(Options, training.Length);
        CheckMemory(config, training.Length, validation.Count, device, session.ComputeType);
        if (Options.Lora is { } lora)
            return TrainAdapters(session, lora, tokenizer, training, validation, data, steps, skipped);
        MoeCausalLM model = Options.InitialModel?.Model.Copy() ?? new MoeCausalLM(config, seed, Options.Initialization);
        model.to(device);
        channel.Info(string.Format(CultureInfo.InvariantCulture,
            "Training a {0:N1}M-parameter MoE model ({1:N1}M active per token) on {2}: {3} documents, {4:N0} training and {5:N0} validation tokens (ValidationFraction {9:0.###} of the rows held out; set it to 0 for a training set split already), {6} steps of {7}×{8} tokens.",
            config.ParameterCount() / 1e6, config.ParameterCount(activeOnly: true) / 1e6, device, trainingDocuments,
            training.Length, validation.Count, steps, Options.BatchSize, Options.ContextLength, Options.ValidationFraction));
        var settings = new LanguageModelTrainingSettings(Options, steps, seed, session.ComputeType, session.Kernels, ResolveResume(channel));
        var loop = new LanguageModelTrainingLoop(model, settings, device);
        LanguageModelTrainingSummary summary;
        try
        {
            summary = loop.Run(training, validation, data, progress =>
            {
                channel.Info(ProgressText.Format(progress));
                Options.Progress?.Report(progress);
            });
        }
        catch
        {
            model.Dispose();
            throw;
        }
        summary = summary with { SkippedEmptyRows = skipped };
        if (!double.IsNaN(summary.ValidationLoss))
            channel.Info(string.Format(CultureInfo.InvariantCulture, "Validation: cross-entropy {0:F4} nats/token, perplexity {1:F3}.", summary.ValidationLoss, summary.ValidationPerplexity));
        return new LanguageModelTransformer(model, tokenizer, Options.TokenColumnName, Options.PromptColumnName, Options.ContextLength, Options.Generation, summary);
    }

    /// <summary>
    /// LoRA fine-tuning: adapters on the frozen base of <see cref="LanguageModelOptions.InitialModel"/>, which is used in
    /// place (its device and weight type), never copied; the routing biases stay and the MTP loss is off.
    /// </summary>
    private LanguageModelTransformer TrainAdapters(TrainingSession session, LoraOptions lora, MoeTokenizer tokenizer, ITokenStream training, IReadOnlyList<int> validation, DataFingerprint data, int steps, long skipped)
    {
        var initial = Options.InitialModel!;
        if (initial.Adapters != null)
            throw new ArgumentException("LanguageModelOptions.InitialModel already carries LoRA adapters: merge them first (MergeLoraAdapters) or train from its base.", nameof(LanguageModelOptions.InitialModel));
        MoeCausalLM baseModel = initial.Model;
        if (baseModel.Device.type != session.Device.type || baseModel.Device.index != session.Device.index)
            throw new ArgumentException($"LanguageModelOptions.InitialModel lives on {baseModel.Device}, but this run trains on {session.Device}: LoRA adapts the base where it is, so load it on the training device (LoadHuggingFace's device argument).", nameof(LanguageModelOptions.InitialModel));
        foreach (var parameter in baseModel.parameters()) parameter.requires_grad_(false);
        var adapters = LoraAdapters.Create(baseModel, lora, session.Seed, "LanguageModelOptions.Lora");
        var config = baseModel.Config;
        long trainable = adapters.Parameters().Sum(p => p.numel());
        session.Channel.Info(string.Format(CultureInfo.InvariantCulture,
            "LoRA fine-tuning a {0:N1}M-parameter MoE model ({1} weights, frozen) on {2}: rank {3}, α {4}, {5} adapted modules, {6} routers and norms trained in full (copies), {7:N2}M trainable parameters; {8:N0} training and {9:N0} validation tokens, {10} steps of {11}×{12} tokens.",
            config.ParameterCount() / 1e6, baseModel.WeightType, session.Device, lora.Rank, lora.Alpha, adapters.AdaptedModules.Count(), adapters.TrainedModules.Count(), trainable / 1e6,
            training.Length, validation.Count, steps, Options.BatchSize, Options.ContextLength));
        var settings = new LanguageModelTrainingSettings(Options, steps, session.Seed, session.ComputeType, session.Kernels, ResolveResume(session.Channel));
        settings = settings with { MultiTokenPredictionWeight = 0, Routing = settings.Routing with { BiasUpdateRate = 0 } };
        var loop = new LanguageModelTrainingLoop(baseModel, settings, session.Device, adapters);
        LanguageModelTrainingSummary summary;
        try
        {
            summary = loop.Run(training, validation, data, progress =>
            {
                session.Channel.Info(ProgressText.Format(progress));
                Options.Progress?.Report(progress);
            });
        }
        catch
        {
            adapters.Dispose();
            throw;
        }
        summary = summary with { SkippedEmptyRows = skipped };
        return new LanguageModelTransformer(baseModel, ownsBase: false, adapters, tokenizer, Options.TokenColumnName, Options.PromptColumnName, Options.ContextLength, Options.Generation, summary);
    }

    /// <summary>The input schema plus Score, Perplexity, TokenCount, TokenAccuracy (all Single) and, with a prompt column, GeneratedText.</summary>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        SchemaChecks.RequireTokenIds(inputSchema, Options.TokenColumnName, "Token");
        if (Options.PromptColumnName != null) SchemaChecks.RequireText(inputSchema, Options.PromptColumnName, "Prompt");
        var columns = inputSchema.ToDictionary(c => c.Name);
        foreach (string name in new[] { LanguageModelTransformer.ScoreColumnName, LanguageModelTransformer.PerplexityColumnName, LanguageModelTransformer.TokenCountColumnName, LanguageModelTransformer.TokenAccuracyColumnName })
            columns[name] = new SchemaShape.Column(name, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false);
        if (Options.PromptColumnName != null)
            columns[LanguageModelTransformer.GeneratedTextColumnName] = new SchemaShape.Column(LanguageModelTransformer.GeneratedTextColumnName, SchemaShape.Column.VectorKind.Scalar, TextDataViewType.Instance, false);
        return new SchemaShape(columns.Values);
    }

    /// <summary>
    /// Refuses, naming ContextLength, a run whose estimated memory (<see cref="ActivationMemory"/>: weights and optimizer
    /// state, a micro-batch's activations, the attention scores of windows as long as the context or the training stream,
    /// and the validation passes) exceeds the memory this process may use, before the model exists, rather than failing
    /// in TorchSharp's allocator at the first step. On CUDA the check is not made: TorchSharp offers no device-memory query.
    /// </summary>
    private void CheckMemory(MoeModelConfig config, long trainingTokens, int validationTokens, Device device, ScalarType computeType)
    {
        if (device.type != DeviceType.CPU) return;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (available <= 0) return;
        int window = (int)Math.Min(Options.ContextLength, trainingTokens - 1);
        long rows = Options.BatchSize / Options.GradientAccumulationSteps;
        int validationWindow = Math.Min(Options.ContextLength, Math.Max(0, validationTokens - 1));
        long validationRows = validationWindow == 0 ? 0 : Math.Min(Options.BatchSize, (validationTokens - 2) / Options.ContextLength + 1);
        int bytesPerValue = computeType == ScalarType.BFloat16 ? 2 : 4;
        var estimate = ActivationMemory.ForTraining(config, rows, window, validationRows, validationWindow, bytesPerValue, Options.RecomputeActivations,
            Options.LastBlocksNotRecomputed, scoresMaterialized: config.QkHeadDim != config.VHeadDim);
        if (estimate.TotalBytes <= available) return;
        const double GiB = 1L << 30;
        throw new ArgumentOutOfRangeException(nameof(LanguageModelOptions.ContextLength), Options.ContextLength, string.Format(CultureInfo.InvariantCulture,
            "LanguageModelOptions.ContextLength {0:N0} makes training windows of {1:N0} tokens; training would need about {2:N1} GiB ({3:N1} GiB of it one block's attention scores: " +
            "{4} windows × {5} heads × {1:N0} × {1:N0} × {6} bytes, twice), more than the {7:N1} GiB of memory available. Lower ContextLength, or the windows of a micro-batch " +
            "(BatchSize / GradientAccumulationSteps), or set RecomputeActivations.",
            Options.ContextLength, window, estimate.TotalBytes / GiB, estimate.AttentionBytes / GiB, rows, config.NumAttentionHeads, bytesPerValue, available / GiB));
    }

    private string? ResolveResume(IChannel channel)
    {
        if (Options.ResumeFrom is not { } resume) return null;
        if (File.Exists(resume)) return resume;
        string? latest = LanguageModelTrainingLoop.LatestCheckpoint(resume);
        channel.Info(latest != null ? $"Resuming from {latest}." : $"No checkpoint in '{resume}': training starts fresh.");
        return latest;
    }

    private MoeModelConfig ResolveConfig(MoeTokenizer tokenizer)
    {
        if (Options.InitialModel is { } initial)
        {
            if (initial.Config.VocabSize < tokenizer.VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(LanguageModelOptions.InitialModel), $"LanguageModelOptions.InitialModel has vocab_size {initial.Config.VocabSize}, smaller than the tokenizer's {tokenizer.VocabularySize} ids.");
            return initial.Config;
        }
        var config = Options.Model ?? MoeModelConfig.Tiny;
        return config with
        {
            VocabSize = Math.Max(config.VocabSize, tokenizer.VocabularySize),
            MaxPositionEmbeddings = Math.Max(config.MaxPositionEmbeddings, Options.ContextLength),
            BosTokenId = config.BosTokenId ?? tokenizer.EndOfTextId,
            EosTokenId = config.EosTokenId ?? tokenizer.EndOfTextId,
        };
    }

    /// <summary>
    /// ⌈Epochs × training tokens / (BatchSize × ContextLength)⌉, at least 1; a count beyond <see cref="int.MaxValue"/>
    /// steps is refused naming the option rather than wrapping around.
    /// </summary>
    private static int StepsForEpochs(LanguageModelOptions Options, long trainingTokens)
    {
        double steps = Math.Ceiling(Options.Epochs * trainingTokens / ((double)Options.BatchSize * Options.ContextLength));
        if (steps > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(LanguageModelOptions.Epochs), Options.Epochs, $"LanguageModelOptions.Epochs {Options.Epochs} over {trainingTokens:N0} training tokens makes {steps:E2} steps, more than {int.MaxValue:N0}: set MaxSteps or fewer Epochs.");
        return Math.Max(1, (int)steps);
    }
}
