using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// A text classifier in an ML.NET pipeline, whatever runs it: <c>MoeTextClassificationTransformer</c> (TorchSharp,
/// package MLNet.MoE) or <c>OnnxTextClassificationTransformer</c> (ONNX Runtime, package MLNet.MoE.Onnx). For each row it
/// adds <c>PredictedLabel</c> (a key of the label's key type, carrying the label's key values) and <c>Score</c> (the class
/// probabilities, a vector of Single with one slot per class, named after the key values). The label column is not read,
/// so the transformer scores unlabelled rows and works in a <c>PredictionEngine</c>. Both backends encode rows with the
/// same code (<see cref="Encode(string, string?)"/>) and build the same columns, so
/// <c>mlContext.MulticlassClassification.Evaluate</c> gives the same metrics up to float rounding.
/// </summary>
public abstract class TextClassificationTransformerBase : ITransformer, ICanSaveModel, IDisposable
{
    private readonly int vocabularySize;

    private protected TextClassificationTransformerBase(MoeTokenizer tokenizer, TextClassificationSettings settings, LabelKeyValues? keyValues, int vocabularySize)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentException.ThrowIfNullOrEmpty(settings.TextColumnName);
        ArgumentException.ThrowIfNullOrEmpty(settings.PredictedLabelColumnName);
        ArgumentException.ThrowIfNullOrEmpty(settings.ScoreColumnName);
        if (settings.MaxLength < 4) throw new ArgumentOutOfRangeException(nameof(settings), settings.MaxLength, "The maximum length must be at least 4 tokens.");
        if (settings.ClassCount < 2) throw new ArgumentOutOfRangeException(nameof(settings), settings.ClassCount, "A classifier needs at least two classes.");
        if (keyValues != null && keyValues.Values.Length != settings.ClassCount)
            throw new ArgumentException($"{keyValues.Values.Length} label key values were given for {settings.ClassCount} classes.", nameof(keyValues));
        if (tokenizer.VocabularySize > vocabularySize)
            throw new ArgumentOutOfRangeException(nameof(tokenizer), $"The tokenizer's {tokenizer.VocabularySize} ids exceed the model's vocabulary ({vocabularySize}).");
        Tokenizer = tokenizer;
        Settings = settings;
        KeyValues = keyValues;
        this.vocabularySize = vocabularySize;
    }

    /// <summary>The column names, maximum length and class count (saved in the model zip and recorded by the ONNX export).</summary>
    internal TextClassificationSettings Settings { get; }

    /// <summary>The label's key values, or null when the label had none.</summary>
    internal LabelKeyValues? KeyValues { get; }

    /// <summary>The tokenizer of the backbone.</summary>
    public MoeTokenizer Tokenizer { get; }

    /// <summary>The text column read.</summary>
    public string TextColumnName => Settings.TextColumnName;

    /// <summary>The second text column read, or null.</summary>
    public string? SecondTextColumnName => Settings.SecondTextColumnName;

    /// <summary>The predicted-label column added.</summary>
    public string PredictedLabelColumnName => Settings.PredictedLabelColumnName;

    /// <summary>The class-probability column added.</summary>
    public string ScoreColumnName => Settings.ScoreColumnName;

    /// <summary>Tokens per row at most.</summary>
    public int MaxLength => Settings.MaxLength;

    /// <summary>The label's key values as text, in score order, or null when the label had none.</summary>
    public IReadOnlyList<string>? ClassNames => KeyValues?.AsText();

    /// <summary>Number of classes.</summary>
    public int ClassCount => Settings.ClassCount;

    /// <summary>Always true: each row is mapped on its own.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus PredictedLabel and Score.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => new TextClassificationColumns(this, KeyValues, inputSchema).OutputSchema;

    /// <summary>A row-to-row mapper (used by PredictionEngine).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new MappedRowToRowMapper(new TextClassificationColumns(this, KeyValues, inputSchema));

    /// <summary>Adds the output columns, computed lazily row by row.</summary>
    public IDataView Transform(IDataView input) => new MappedDataView(input, new TextClassificationColumns(this, KeyValues, input.Schema));

    /// <summary>The token ids the classifier reads for a row (end-of-text tokens included, truncated to <see cref="MaxLength"/>).</summary>
    public int[] Encode(string text, string? secondText = null) => Encode(text, secondText, out _);

    /// <summary>The token ids the classifier reads for a row, and whether the row was longer than <see cref="MaxLength"/> and cut.</summary>
    public int[] Encode(string text, string? secondText, out bool truncated)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (SecondTextColumnName != null && secondText == null) throw new ArgumentNullException(nameof(secondText), $"The classifier reads two texts (columns '{TextColumnName}' and '{SecondTextColumnName}').");
        return TextClassificationTokens.Encode(Tokenizer, text, SecondTextColumnName != null ? secondText : null, MaxLength, out truncated);
    }

    /// <summary>
    /// Class probabilities of token sequences from <see cref="Encode(string, string?)"/>, scored in batches of
    /// <paramref name="batchSize"/> (right-padded). A classifier with a wide branch of hashed n-grams
    /// (<c>MoeTextClassificationOptions.NgramBuckets</c> above 0) also reads the text itself: score its texts with
    /// <see cref="PredictProbabilities(string, string?)"/> or <c>Transform</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The classifier has a wide branch of hashed n-grams.</exception>
    public float[][] PredictProbabilities(IReadOnlyList<int[]> sequences, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (Settings.NgramBuckets > 0)
            throw new InvalidOperationException($"This classifier reads hashed n-grams of the text ({Settings.NgramBuckets:N0} buckets) as well as its tokens, so token ids alone cannot be scored: use PredictProbabilities(text) or Transform.");
        return CheckedProbabilities(sequences, null, batchSize);
    }

    /// <summary>
    /// Class probabilities [N][C] of rows given as texts (and second texts, for a classifier of pairs), encoded as
    /// <see cref="Encode(string, string?)"/> does (and, with a wide branch, hashed into n-grams), scored in batches of
    /// <paramref name="batchSize"/> (right-padded), in the input order. What <c>Transform</c> computes, a batch at a time.
    /// </summary>
    public float[][] PredictProbabilities(IReadOnlyList<string> texts, IReadOnlyList<string>? secondTexts = null, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (secondTexts != null && secondTexts.Count != texts.Count)
            throw new ArgumentException($"{secondTexts.Count} second texts were given for {texts.Count} texts.", nameof(secondTexts));
        var rows = texts.Select((text, i) => EncodeRow(text ?? throw new ArgumentException($"Text {i} is null.", nameof(texts)), secondTexts?[i])).ToList();
        return CheckedProbabilities(rows.Select(r => r.Ids).ToList(), Settings.NgramBuckets > 0 ? rows.Select(r => r.Ngrams).ToList() : null, batchSize);
    }

    /// <summary>The token ids and the wide branch's n-gram bucket ids (empty without one) the classifier reads for a row.</summary>
    internal (int[] Ids, int[] Ngrams) EncodeRow(string text, string? secondText)
    {
        ArgumentNullException.ThrowIfNull(text);
        int[] ids = Encode(text, secondText);
        return (ids, TextClassificationNgrams.Hash(text, SecondTextColumnName != null ? secondText : null, Settings.NgramBuckets));
    }

    private float[][] CheckedProbabilities(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? ngrams, int batchSize)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        if (sequences.Count == 0) return Array.Empty<float[]>();
        foreach (var s in sequences)
        {
            if (s == null || s.Length == 0) throw new ArgumentException("Every sequence needs at least one token (use Encode).", nameof(sequences));
            foreach (int id in s)
            {
                if ((uint)id >= (uint)vocabularySize)
                    throw new ArgumentOutOfRangeException(nameof(sequences), $"Token id {id} is outside the model's vocabulary (0..{vocabularySize - 1}).");
            }
        }
        return Probabilities(sequences, ngrams, batchSize);
    }

    /// <summary>Class probabilities of one row's text(s).</summary>
    public float[] PredictProbabilities(string text, string? secondText = null)
    {
        var (ids, ngrams) = EncodeRow(text, secondText);
        return CheckedProbabilities(new[] { ids }, Settings.NgramBuckets > 0 ? new[] { ngrams } : null, 1)[0];
    }

    /// <summary>Frees the model's native memory.</summary>
    public void Dispose() => DisposeModel();

    void ICanSaveModel.Save(ModelSaveContext ctx) => Save(ctx);

    /// <summary>
    /// Class probabilities [N][C] of checked, non-empty sequences, in their order; <paramref name="ngrams"/> holds each
    /// row's n-gram bucket ids when the classifier has a wide branch, else null.
    /// </summary>
    private protected abstract float[][] Probabilities(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? ngrams, int batchSize);

    /// <summary>Frees what the backend holds.</summary>
    private protected abstract void DisposeModel();

    /// <summary>Writes the transformer into the model zip.</summary>
    private protected abstract void Save(ModelSaveContext ctx);
}
