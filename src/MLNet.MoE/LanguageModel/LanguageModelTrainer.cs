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
/// across windows. Created by <c>mlContext.MoE().Trainers.LanguageModel(...)</c>.
/// </summary>
internal sealed class LanguageModelTrainer : IEstimator<LanguageModelTransformer>
{
    private readonly IHostEnvironment env;
    private readonly LanguageModelOptions options;

    internal LanguageModelTrainer(IHostEnvironment env, LanguageModelOptions options)
    {
        this.env = env ?? throw new ArgumentNullException(nameof(env));
        this.options = options ?? throw new ArgumentNullException(nameof(options));
    }

    /// <summary>The options the trainer was created with.</summary>
    public LanguageModelOptions Options => options;

    /// <summary>Checks the columns and options, trains, and returns the transformer.</summary>
    public LanguageModelTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        options.Validate();
        var tokenColumn = SchemaChecks.RequireTokenIds(input.Schema, options.TokenColumnName, "Token");
        if (options.PromptColumnName != null) SchemaChecks.RequireText(input.Schema, options.PromptColumnName, "Prompt");
        MoeTokenizer tokenizer = TokenizerAnnotation.Resolve(options.Tokenizer, tokenColumn, "LanguageModelOptions.Tokenizer")
            ?? throw new InvalidOperationException($"Token column '{options.TokenColumnName}' carries no tokenizer: produce it with TokenizeForMoe, or set LanguageModelOptions.Tokenizer.");
        using var session = TrainingSession.Start(env, options, nameof(LanguageModelTrainer));
        var (channel, seed, device) = (session.Channel, session.Seed, session.Device);
        MoeModelConfig config = ResolveConfig(tokenizer);
        var (documents, skipped) = TokenDocumentReader.Read(input, tokenColumn, config.VocabSize);
        if (skipped > 0) channel.Info($"Skipped {skipped} rows with empty or missing text in column '{options.TokenColumnName}'.");
        var corpus = TokenCorpus.Pack(documents, tokenizer.EndOfTextId, options.ValidationFraction, seed);
        if (corpus.Training.Length < 2)
            throw new InvalidOperationException($"Column '{options.TokenColumnName}' holds no training tokens ({documents.Count} non-empty rows).");
        int steps = options.MaxSteps > 0
            ? options.MaxSteps
            : StepsForEpochs(options, corpus.Training.Length);
        MoeCausalLM model = options.InitialModel?.Model.Copy() ?? new MoeCausalLM(config, seed, options.Initialization);
        model.to(device);
        channel.Info(string.Format(CultureInfo.InvariantCulture,
            "Training a {0:N1}M-parameter MoE model ({1:N1}M active per token) on {2}: {3} documents, {4:N0} training and {5:N0} validation tokens (ValidationFraction {9:0.###} of the rows held out; set it to 0 for a training set split already), {6} steps of {7}×{8} tokens.",
            config.ParameterCount() / 1e6, config.ParameterCount(activeOnly: true) / 1e6, device, corpus.TrainingDocuments,
            corpus.Training.Length, corpus.Validation.Length, steps, options.BatchSize, options.ContextLength, options.ValidationFraction));
        var settings = new LanguageModelTrainingSettings(options, steps, seed, session.ComputeType, session.Kernels, ResolveResume(channel));
        var loop = new LanguageModelTrainingLoop(model, settings, device);
        LanguageModelTrainingSummary summary;
        try
        {
            summary = loop.Run(corpus.Training, corpus.Validation, progress =>
            {
                channel.Info(ProgressText.Format(progress));
                options.Progress?.Report(progress);
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
        return new LanguageModelTransformer(model, tokenizer, options.TokenColumnName, options.PromptColumnName, options.ContextLength, options.Generation, summary);
    }

    /// <summary>The input schema plus Score, Perplexity, TokenCount, TokenAccuracy (all Single) and, with a prompt column, GeneratedText.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        SchemaChecks.RequireTokenIds(inputSchema, options.TokenColumnName, "Token");
        if (options.PromptColumnName != null) SchemaChecks.RequireText(inputSchema, options.PromptColumnName, "Prompt");
        var columns = inputSchema.ToDictionary(c => c.Name);
        foreach (string name in new[] { LanguageModelTransformer.ScoreColumnName, LanguageModelTransformer.PerplexityColumnName, LanguageModelTransformer.TokenCountColumnName, LanguageModelTransformer.TokenAccuracyColumnName })
            columns[name] = new SchemaShape.Column(name, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.Single, false);
        if (options.PromptColumnName != null)
            columns[LanguageModelTransformer.GeneratedTextColumnName] = new SchemaShape.Column(LanguageModelTransformer.GeneratedTextColumnName, SchemaShape.Column.VectorKind.Scalar, TextDataViewType.Instance, false);
        return new SchemaShape(columns.Values);
    }

    private string? ResolveResume(IChannel channel)
    {
        if (options.ResumeFrom is not { } resume) return null;
        if (File.Exists(resume)) return resume;
        string? latest = LanguageModelTrainingLoop.LatestCheckpoint(resume);
        channel.Info(latest != null ? $"Resuming from {latest}." : $"No checkpoint in '{resume}': training starts fresh.");
        return latest;
    }

    private MoeModelConfig ResolveConfig(MoeTokenizer tokenizer)
    {
        if (options.InitialModel is { } initial)
        {
            if (initial.Config.VocabSize < tokenizer.VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(LanguageModelOptions.InitialModel), $"LanguageModelOptions.InitialModel has vocab_size {initial.Config.VocabSize}, smaller than the tokenizer's {tokenizer.VocabularySize} ids.");
            return initial.Config;
        }
        var config = options.Model ?? MoeModelConfig.Tiny;
        return config with
        {
            VocabSize = Math.Max(config.VocabSize, tokenizer.VocabularySize),
            MaxPositionEmbeddings = Math.Max(config.MaxPositionEmbeddings, options.ContextLength),
            BosTokenId = config.BosTokenId ?? tokenizer.EndOfTextId,
            EosTokenId = config.EosTokenId ?? tokenizer.EndOfTextId,
        };
    }

    /// <summary>
    /// ⌈Epochs × training tokens / (BatchSize × ContextLength)⌉, at least 1; a count beyond <see cref="int.MaxValue"/>
    /// steps is refused naming the option rather than wrapping around.
    /// </summary>
    private static int StepsForEpochs(LanguageModelOptions options, long trainingTokens)
    {
        double steps = Math.Ceiling(options.Epochs * trainingTokens / ((double)options.BatchSize * options.ContextLength));
        if (steps > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(LanguageModelOptions.Epochs), options.Epochs, $"LanguageModelOptions.Epochs {options.Epochs} over {trainingTokens:N0} training tokens makes {steps:E2} steps, more than {int.MaxValue:N0}: set MaxSteps or fewer Epochs.");
        return Math.Max(1, (int)steps);
    }
}
