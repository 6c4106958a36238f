using System.Text.Json;
using Microsoft.ML.OnnxRuntime;

namespace MLNet.MoE;

/// <summary>
/// An MLNet.MoE text classifier exported to ONNX, loaded in ONNX Runtime: class probabilities of right-padded batches
/// (inputs <c>input_ids</c> and <c>attention_mask</c>, and for a classifier with the wide branch <c>ngram_ids</c> and
/// <c>ngram_weights</c>; output <c>probabilities</c>), and what the export recorded in its metadata (class count and
/// names, maximum length, column names, tokenizer digest, n-gram buckets and hash version). A file that is not such an
/// export, or whose n-grams were hashed otherwise than <see cref="TextClassificationNgrams"/> hashes them, is refused
/// with an <see cref="InvalidDataException"/> naming it.
/// </summary>
internal sealed class OnnxClassifier : IDisposable
{
    private const string IdsInput = "input_ids";
    private const string MaskInput = "attention_mask";
    private const string NgramIdsInput = "ngram_ids";
    private const string NgramWeightsInput = "ngram_weights";
    private const string ProbabilitiesOutput = "probabilities";
    private static readonly string[] Outputs = { ProbabilitiesOutput };

    private readonly OnnxModelFile file;

    // One RunOptions for the classifier's lifetime, disposed with the session (see OnnxDecoder).
    private readonly RunOptions runOptions = new();

    private OnnxClassifier(OnnxModelFile file)
    {
        this.file = file;
        try
        {
            var session = file.Session;
            foreach (string input in new[] { IdsInput, MaskInput })
            {
                if (!session.InputNames.Contains(input))
                    throw new InvalidDataException($"{file.Source}: the text classifier's graph has no '{input}' input (inputs: {string.Join(", ", session.InputNames)}).");
            }
            if (!session.OutputNames.Contains(ProbabilitiesOutput))
                throw new InvalidDataException($"{file.Source}: the text classifier's graph has no '{ProbabilitiesOutput}' output (outputs: {string.Join(", ", session.OutputNames)}).");
            ClassCount = file.Positive(OnnxMetadataKeys.ClassCount);
            if (ClassCount < 2) throw new InvalidDataException($"{file.Source}: metadata entry '{OnnxMetadataKeys.ClassCount}' ({ClassCount}) is below 2.");
            MaxLength = file.Positive(OnnxMetadataKeys.MaxLength);
            if (MaxLength < 4) throw new InvalidDataException($"{file.Source}: metadata entry '{OnnxMetadataKeys.MaxLength}' ({MaxLength}) is below 4.");
            VocabSize = file.Positive(OnnxMetadataKeys.VocabSize);
            NgramBuckets = ReadNgramBuckets(session);
            Weights = file.Optional(OnnxMetadataKeys.Weights) ?? "float32";
            TokenizerSha256 = file.Optional(OnnxMetadataKeys.TokenizerSha256);
            TextColumnName = NonEmpty(OnnxMetadataKeys.TextColumn);
            SecondTextColumnName = NonEmpty(OnnxMetadataKeys.SecondTextColumn);
            PredictedLabelColumnName = NonEmpty(OnnxMetadataKeys.PredictedLabelColumn);
            ScoreColumnName = NonEmpty(OnnxMetadataKeys.ScoreColumn);
            KeyValues = ReadKeyValues();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Number of classes (the width of <c>probabilities</c>).</summary>
    public int ClassCount { get; }

    /// <summary>Tokens per row at most, as the classifier was trained.</summary>
    public int MaxLength { get; }

    /// <summary>Ids the backbone embeds.</summary>
    public int VocabSize { get; }

    /// <summary>Buckets of the wide branch's hashed n-grams; 0 when the classifier has none.</summary>
    public int NgramBuckets { get; }

    /// <summary>float32, float16, bfloat16, int8 or int4.</summary>
    public string Weights { get; }

    /// <summary>Hex SHA-256 of the tokenizer file exported beside the model (null for older exports).</summary>
    public string? TokenizerSha256 { get; }

    /// <summary>The text column the exported transformer read (null for older exports).</summary>
    public string? TextColumnName { get; }

    /// <summary>The second text column the exported transformer read (null when it read one, or for older exports).</summary>
    public string? SecondTextColumnName { get; }

    /// <summary>The predicted-label column the exported transformer added (null for older exports).</summary>
    public string? PredictedLabelColumnName { get; }

    /// <summary>The class-probability column the exported transformer added (null for older exports).</summary>
    public string? ScoreColumnName { get; }

    /// <summary>The label's key values (text for older exports), or null when the label had none.</summary>
    public LabelKeyValues? KeyValues { get; }

    /// <summary>The model file's bytes (null when loaded from a path with external data).</summary>
    public byte[]? ModelBytes => file.Bytes;

    /// <summary>Loads a model from its bytes (self-contained, no external data).</summary>
    public static OnnxClassifier FromBytes(byte[] bytes, string source) => new(OnnxModelFile.FromBytes(bytes, source, OnnxMetadataKeys.ClassifierFormatName));

    /// <summary>Loads <c>model.onnx</c> from a path; external data beside it is found by ONNX Runtime.</summary>
    public static OnnxClassifier FromFile(string path) => new(OnnxModelFile.FromFile(path, OnnxMetadataKeys.ClassifierFormatName));

    /// <summary>
    /// Class probabilities [N][C] of <paramref name="sequences"/> (non-empty, ids inside the vocabulary), in batches of
    /// similar length right-padded with <paramref name="padId"/>, in the input order. <paramref name="ngrams"/> holds each
    /// row's n-gram bucket ids (<see cref="TextClassificationNgrams.Hash"/> with <see cref="NgramBuckets"/>) when the
    /// classifier has a wide branch, and is ignored otherwise.
    /// </summary>
    public float[][] Probabilities(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? ngrams, int batchSize, int padId)
    {
        if (NgramBuckets > 0 && (ngrams == null || ngrams.Count != sequences.Count))
            throw new ArgumentException($"{file.Source}: the classifier has a wide branch of {NgramBuckets:N0} n-gram buckets: each row's n-grams are needed.", nameof(ngrams));
        var result = new float[sequences.Count][];
        foreach (var chunk in TextClassificationPadding.Batches(sequences, batchSize))
        {
            var (ids, lengths, width) = TextClassificationPadding.Pad(chunk.Select(i => sequences[i]).ToList(), padId);
            var mask = new long[ids.Length];
            for (int b = 0; b < chunk.Length; b++) mask.AsSpan(b * width, (int)lengths[b]).Fill(1L);
            var shape = new long[] { chunk.Length, width };
            using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, shape);
            var inputs = new Dictionary<string, OrtValue> { [IdsInput] = idsValue, [MaskInput] = maskValue };
            OrtValue? ngramIdsValue = null, ngramWeightsValue = null;
            if (NgramBuckets > 0)
            {
                var (ngramIds, ngramWeights, ngramWidth) = TextClassificationPadding.PadNgrams(chunk.Select(i => ngrams![i]).ToList());
                var ngramShape = new long[] { chunk.Length, ngramWidth };
                inputs[NgramIdsInput] = ngramIdsValue = OrtValue.CreateTensorValueFromMemory(ngramIds, ngramShape);
                inputs[NgramWeightsInput] = ngramWeightsValue = OrtValue.CreateTensorValueFromMemory(ngramWeights, ngramShape);
            }
            using var ngramIdsOwner = ngramIdsValue;
            using var ngramWeightsOwner = ngramWeightsValue;
            using var results = file.Session.Run(runOptions, inputs, Outputs);
            var values = results[0].GetTensorDataAsSpan<float>();
            if (values.Length != chunk.Length * ClassCount)
                throw new InvalidDataException($"{file.Source}: '{ProbabilitiesOutput}' holds {values.Length} values for {chunk.Length} rows of {ClassCount} classes.");
            for (int b = 0; b < chunk.Length; b++) result[chunk[b]] = values.Slice(b * ClassCount, ClassCount).ToArray();
        }
        return result;
    }

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose()
    {
        file.Dispose();
        runOptions.Dispose();
    }

    /// <summary>
    /// The wide branch's bucket count (0 without one), checked against the graph's inputs, the format version and the
    /// n-gram hash version the export recorded: an export hashed otherwise would score every row with the wrong buckets.
    /// </summary>
    private int ReadNgramBuckets(InferenceSession session)
    {
        bool wideInputs = session.InputNames.Contains(NgramIdsInput) || session.InputNames.Contains(NgramWeightsInput);
        bool ngramFormat = file.Optional(OnnxMetadataKeys.FormatVersion) == OnnxMetadataKeys.NgramFormatVersion;
        if (file.Optional(OnnxMetadataKeys.NgramBuckets) == null)
        {
            if (wideInputs || ngramFormat)
            {
                string evidence = wideInputs ? $"its graph has the inputs '{NgramIdsInput}' / '{NgramWeightsInput}'" : $"its '{OnnxMetadataKeys.FormatVersion}' is {OnnxMetadataKeys.NgramFormatVersion}";
                throw new InvalidDataException($"{file.Source}: the text classifier reads n-grams ({evidence}), but its metadata has no '{OnnxMetadataKeys.NgramBuckets}' entry.");
            }
            return 0;
        }
        int buckets = file.Positive(OnnxMetadataKeys.NgramBuckets);
        foreach (string input in new[] { NgramIdsInput, NgramWeightsInput })
        {
            if (!session.InputNames.Contains(input))
                throw new InvalidDataException($"{file.Source}: metadata entry '{OnnxMetadataKeys.NgramBuckets}' names a wide branch of n-grams, but the text classifier's graph has no '{input}' input (inputs: {string.Join(", ", session.InputNames)}).");
        }
        if (!ngramFormat)
            throw new InvalidDataException($"{file.Source}: the text classifier reads n-grams, but its '{OnnxMetadataKeys.FormatVersion}' is '{MessageText.Printable(file.Optional(OnnxMetadataKeys.FormatVersion) ?? "")}', not {OnnxMetadataKeys.NgramFormatVersion}.");
        string? hashVersion = file.Optional(OnnxMetadataKeys.NgramHashVersion);
        if (hashVersion != TextClassificationNgrams.HashVersion)
        {
            throw new InvalidDataException(hashVersion == null
                ? $"{file.Source}: the text classifier reads n-grams, but its metadata has no '{OnnxMetadataKeys.NgramHashVersion}' entry saying how they were hashed."
                : $"{file.Source}: the text classifier's n-grams were hashed with version '{MessageText.Printable(hashVersion)}' (metadata entry '{OnnxMetadataKeys.NgramHashVersion}'); this library hashes them with version {TextClassificationNgrams.HashVersion}, so every row would read the wrong buckets. Score it with the MLNet.MoE.Onnx version it was exported for, or export the classifier again.");
        }
        return buckets;
    }

    private string? NonEmpty(string key)
    {
        string? value = file.Optional(key);
        if (value != null && value.Length == 0) throw new InvalidDataException($"{file.Source}: metadata entry '{key}' is empty.");
        return value;
    }

    private LabelKeyValues? ReadKeyValues()
    {
        string? json = file.Optional(OnnxMetadataKeys.ClassNames);
        if (json == null) return null;
        string typeName = file.Optional(OnnxMetadataKeys.ClassNamesType) ?? "Text";
        try
        {
            string[] names = JsonSerializer.Deserialize<string[]>(json) ?? throw new JsonException("null");
            if (names.Length != ClassCount)
                throw new InvalidDataException($"{file.Source}: metadata entry '{OnnxMetadataKeys.ClassNames}' holds {names.Length} names for {ClassCount} classes.");
            return LabelKeyValues.Parse(typeName, names);
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw new InvalidDataException($"{file.Source}: metadata entries '{OnnxMetadataKeys.ClassNames}' / '{OnnxMetadataKeys.ClassNamesType}' are not class names of type '{MessageText.Printable(typeName)}': {MessageText.Printable(e.Message)}", e);
        }
    }
}
