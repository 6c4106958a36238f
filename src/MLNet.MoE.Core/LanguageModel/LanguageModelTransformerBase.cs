using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// A language model in an ML.NET pipeline, whatever runs it: <c>LanguageModelTransformer</c> (TorchSharp, package
/// MLNet.MoE) or <c>OnnxLanguageModelTransformer</c> (ONNX Runtime, package MLNet.MoE.Onnx). For each row it adds
/// <c>Score</c> (mean next-token cross-entropy of the row's tokens, nats), <c>Perplexity</c> (exp of Score),
/// <c>TokenCount</c> (tokens scored) and <c>TokenAccuracy</c> (share of tokens that were the most likely next token),
/// and, when a prompt column is configured, <c>GeneratedText</c>. The scored column holds token ids (a vector of Int32,
/// from <c>TokenizeForMoe</c>) or text, tokenized with the model's tokenizer. A row's first token is predicted from the
/// end-of-text token; rows longer than the context are scored in consecutive windows. Prompts longer than the context
/// minus the new tokens keep their last tokens (left truncation). Both backends share this class's scoring, generation
/// and columns, so they give the same figures and text up to float rounding.
/// </summary>
public abstract class LanguageModelTransformerBase : ITransformer, ICanSaveModel, IDisposable
{
    /// <summary>Name of the mean cross-entropy column.</summary>
    public const string ScoreColumnName = "Score";

    /// <summary>Name of the perplexity column.</summary>
    public const string PerplexityColumnName = "Perplexity";

    /// <summary>Name of the scored-token count column.</summary>
    public const string TokenCountColumnName = "TokenCount";

    /// <summary>Name of the next-token accuracy column.</summary>
    public const string TokenAccuracyColumnName = "TokenAccuracy";

    /// <summary>Name of the generated-text column.</summary>
    public const string GeneratedTextColumnName = "GeneratedText";

    /// <summary>Padded tokens (rows × longest row) per forward pass of <see cref="ScoreBatch"/> by default.</summary>
    public const int DefaultMaxTokensPerPass = 4096;

    private protected LanguageModelTransformerBase(ILanguageModelRunner runner, MoeTokenizer tokenizer, LanguageModelHeader header)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentException.ThrowIfNullOrEmpty(header.TokenColumnName);
        header.Generation.Validate();
        if (tokenizer.VocabularySize > runner.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(tokenizer), $"The tokenizer's {tokenizer.VocabularySize} ids exceed the model's vocabulary ({runner.VocabSize}).");
        if (header.ContextLength < 2 || header.ContextLength > runner.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(header), header.ContextLength, $"contextLength must be between 2 and the model's max_position_embeddings ({runner.MaxPositions}).");
        Runner = runner;
        Tokenizer = tokenizer;
        Header = header;
    }

    /// <summary>The backend (internal: the chat client of the Chat layer decodes through it too).</summary>
    internal ILanguageModelRunner Runner { get; }

    /// <summary>The settings saved first in the model zip.</summary>
    private protected LanguageModelHeader Header { get; }

    /// <summary>The tokenizer used for text columns, prompts and generated text.</summary>
    public MoeTokenizer Tokenizer { get; }

    /// <summary>The tokenizer's serialized form, computed once: compared with a token column's tokenizer annotation.</summary>
    internal byte[] SerializedTokenizer => serializedTokenizer ??= Tokenizer.Serialize();

    private byte[]? serializedTokenizer;

    /// <summary>The scored column (token ids or text).</summary>
    public string TokenColumnName => Header.TokenColumnName;

    /// <summary>The prompt column, or null when the transformer does not generate.</summary>
    public string? PromptColumnName => Header.PromptColumnName;

    /// <summary>Tokens per scoring window and the generation context.</summary>
    public int ContextLength => Header.ContextLength;

    /// <summary>How <c>GeneratedText</c> is produced.</summary>
    public GenerationOptions Generation => Header.Generation;

    /// <summary>Ids the model has logits for.</summary>
    public int VocabularySize => Runner.VocabSize;

    /// <summary>
    /// The most tokens one scored row may hold, 0 for no bound (the default). A row costs ⌈tokens / ContextLength⌉
    /// windows of forward passes, so its scoring time grows with its length without limit (a 1 MiB text row through a
    /// <c>PredictionEngine</c> of a small byte-level model takes seconds, see docs/language-model-trainer.md); a service
    /// that scores what it receives sets a bound, and a longer row is then refused with an
    /// <see cref="ArgumentOutOfRangeException"/> naming the column and this property. Applies to the output columns,
    /// <see cref="ScoreTokens"/> and <see cref="ScoreBatch"/>; not to prompts, which are cut to the context. Not saved with
    /// the model: set it after training or loading, before scoring.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int MaxTokensPerRow
    {
        get => maxTokensPerRow;
        set
        {
            if (value < 0) throw new ArgumentOutOfRangeException(nameof(MaxTokensPerRow), value, "MaxTokensPerRow must be 0 (no bound) or positive.");
            maxTokensPerRow = value;
        }
    }

    private int maxTokensPerRow;

    /// <summary>Always true: each row is mapped on its own.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus the score columns (and GeneratedText with a prompt column).</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => new LanguageModelColumns(this, inputSchema).OutputSchema;

    /// <summary>A row-to-row mapper (used by PredictionEngine).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new MappedRowToRowMapper(new LanguageModelColumns(this, inputSchema));

    /// <summary>Adds the output columns, computed lazily row by row.</summary>
    public IDataView Transform(IDataView input) => new MappedDataView(input, new LanguageModelColumns(this, input.Schema));

    /// <summary>Generates a continuation of <paramref name="prompt"/> with <paramref name="options"/> (default: the transformer's).</summary>
    public string Generate(string prompt, GenerationOptions? options = null) =>
        TextGeneration.Generate(Runner, Tokenizer, prompt, options ?? Generation, ContextLength);

    /// <summary>
    /// Generates token ids after <paramref name="prompt"/> ids as they are (no end-of-text is prepended, nothing is
    /// truncated, stop sequences do not apply): up to <c>MaxNewTokens</c> of <paramref name="options"/> (default: the
    /// transformer's), stopping at end-of-text (not returned) when the options say so, or when <paramref name="onToken"/>,
    /// called with the ids so far after each new one, returns true (a caller streams text or checks cancellation there).
    /// The prompt plus the new ids must fit in the model's max_position_embeddings.
    /// </summary>
    public int[] GenerateTokens(IReadOnlyList<int> prompt, GenerationOptions? options = null, Func<IReadOnlyList<int>, bool>? onToken = null)
    {
        options ??= Generation;
        options.Validate();
        return TextGeneration.GenerateIds(Runner, prompt, options.MaxNewTokens, TextGeneration.Sampler(options),
            options.StopAtEndOfText ? Tokenizer.EndOfTextId : null, onToken);
    }

    /// <summary>
    /// Scores token ids: summed cross-entropy (nats), correct next tokens and tokens scored. The first is predicted from
    /// end-of-text, and windows of <see cref="ContextLength"/> inputs follow each other so no token is predicted twice.
    /// </summary>
    public StreamScore ScoreTokens(IReadOnlyList<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        RequireRowLength(tokens.Count, $"column '{TokenColumnName}'", nameof(tokens));
        RequireVocabulary(tokens, $"column '{TokenColumnName}'", nameof(tokens));
        return LanguageModelScoring.ScoreDocument(Runner, tokens, Tokenizer.EndOfTextId, ContextLength);
    }

    /// <summary>
    /// Scores each row of <paramref name="rows"/> as <see cref="ScoreTokens"/> does, with as few forward passes as
    /// possible (for callers that gather rows from many requests): rows that fit in one context are sorted by length and
    /// run together, right-padded to the longest row of their pass, with padding left out of the sums; longer rows are
    /// scored on their own in windows.
    /// </summary>
    /// <param name="rows">Token ids per row (each id within the vocabulary).</param>
    /// <param name="maxTokensPerPass">Upper bound on rows × padded length per forward pass (one row always fits).</param>
    /// <returns>One score per row, in the order of <paramref name="rows"/>.</returns>
    public StreamScore[] ScoreBatch(IReadOnlyList<IReadOnlyList<int>> rows, int maxTokensPerPass = DefaultMaxTokensPerPass)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (maxTokensPerPass < 1) throw new ArgumentOutOfRangeException(nameof(maxTokensPerPass), maxTokensPerPass, "maxTokensPerPass must be at least 1.");
        for (int r = 0; r < rows.Count; r++)
        {
            var row = rows[r] ?? throw new ArgumentNullException(nameof(rows), $"Row {r} of the batch is null.");
            RequireRowLength(row.Count, $"row {r} of the batch", nameof(rows));
            RequireVocabulary(row, $"row {r} of the batch", nameof(rows));
        }
        return LanguageModelScoring.ScoreDocuments(Runner, rows, Tokenizer.EndOfTextId, ContextLength, maxTokensPerPass);
    }

    /// <summary>
    /// The next-token logits at every position of <paramref name="ids"/> (taken as they are: no end-of-text is
    /// prepended), position-major: <c>ids.Count × VocabularySize</c> floats. The ids must fit in the model's positions.
    /// </summary>
    public float[] Logits(IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0 || ids.Count > Runner.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(ids), ids.Count, $"ids must hold between 1 and the model's max_position_embeddings ({Runner.MaxPositions}) tokens.");
        RequireVocabulary(ids, "ids", nameof(ids));
        return Runner.Logits(ids.Select(i => (long)i).ToArray(), 1, ids.Count);
    }

    /// <summary>Frees the backend's native memory.</summary>
    public void Dispose()
    {
        Runner.Dispose();
        GC.SuppressFinalize(this);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => Save(ctx);

    /// <summary>Writes the model: version info, then <see cref="Header"/>, then the backend's entries.</summary>
    private protected abstract void Save(ModelSaveContext ctx);

    private void RequireRowLength(int count, string where, string parameter)
    {
        if (maxTokensPerRow > 0 && count > maxTokensPerRow)
        {
            long windows = ((long)count + ContextLength - 1) / ContextLength;
            throw new ArgumentOutOfRangeException(parameter, count,
                $"The row of {where} holds {count:N0} tokens, more than the language model's MaxTokensPerRow ({maxTokensPerRow:N0}); scoring it would take {windows:N0} windows of {ContextLength:N0} tokens. Cut the row, or raise MaxTokensPerRow.");
        }
    }

    private void RequireVocabulary(IReadOnlyList<int> ids, string where, string parameter)
    {
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)Runner.VocabSize)
                throw new ArgumentOutOfRangeException(parameter, $"Token id {id} in {where} is outside the model's vocabulary (0..{Runner.VocabSize - 1}).");
        }
    }
}
