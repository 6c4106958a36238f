using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNet.MoE;

[assembly: LoadableClass(typeof(OnnxTextClassificationTransformer), null, typeof(SignatureLoadModel), "MoE ONNX Text Classifier", OnnxTextClassificationTransformer.LoaderSignature)]

namespace MLNet.MoE;

/// <summary>
/// An MLNet.MoE text classifier exported to ONNX, run by ONNX Runtime in an ML.NET pipeline. Its columns and encoding
/// are those of <see cref="TextClassificationTransformerBase"/>, the same as the TorchSharp
/// <c>MoeTextClassificationTransformer</c>'s: <c>PredictedLabel</c> (a key carrying the label's key values) and
/// <c>Score</c> (class probabilities, slots named after the key values), so <c>MulticlassClassification.Evaluate</c> and
/// <c>PredictionEngine</c> work as with that transformer. A classifier with the wide branch of hashed n-grams reads them
/// from the text as the TorchSharp transformer does (the same <c>TextClassificationNgrams</c>). Saved in the model zip
/// with the ONNX bytes and the tokenizer.
/// </summary>
public sealed class OnnxTextClassificationTransformer : TextClassificationTransformerBase
{
    internal const string LoaderSignature = "MLNetMoEOnnxClassifier";
    private const string ModelSignature = "MOEONNXC";
    private const uint Version = 0x00010001;

    private readonly OnnxClassifier classifier;

    /// <summary>
    /// A transformer over <paramref name="classifier"/>; the wide branch's bucket count comes from the ONNX model (what
    /// the graph was built for), whatever <paramref name="settings"/> say, so a model zip, whose saved settings do not
    /// hold it, loads alike.
    /// </summary>
    internal OnnxTextClassificationTransformer(OnnxClassifier classifier, MoeTokenizer tokenizer, TextClassificationSettings settings, LabelKeyValues? keyValues)
        : base(tokenizer, settings with { NgramBuckets = classifier.NgramBuckets }, keyValues, classifier.VocabSize)
    {
        if (settings.ClassCount != classifier.ClassCount)
            throw new ArgumentException($"The settings name {settings.ClassCount} classes; the ONNX classifier has {classifier.ClassCount}.", nameof(settings));
        this.classifier = classifier;
    }

    /// <summary>How the model's matrices are stored: float32, float16, bfloat16, int8 or int4.</summary>
    public string WeightType => classifier.Weights;

    private protected override float[][] Probabilities(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? ngrams, int batchSize) =>
        classifier.Probabilities(sequences, ngrams, batchSize, Tokenizer.EndOfTextId);

    private protected override void DisposeModel() => classifier.Dispose();

    private protected override void Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(ModelVersions.Create(typeof(OnnxTextClassificationTransformer), ModelSignature, Version, LoaderSignature));
        Settings.Write(ctx);
        LabelKeyValues.Write(ctx.Writer, KeyValues);
        OnnxZipEntries.Write(ctx, Tokenizer, classifier.ModelBytes);
    }

    private static OnnxTextClassificationTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(ModelVersions.Create(typeof(OnnxTextClassificationTransformer), ModelSignature, Version, LoaderSignature));
        ZipEntryIntegrity.Verify(ctx);
        var settings = TextClassificationSettings.Read(ctx);
        var keyValues = LabelKeyValues.Read(ctx.Reader, settings.ClassCount);
        var (tokenizer, onnx) = OnnxZipEntries.Read(ctx, "ONNX text classifier");
        var classifier = OnnxClassifier.FromBytes(onnx, OnnxZipEntries.OnnxSource);
        try
        {
            if (classifier.ClassCount != settings.ClassCount)
                throw new InvalidDataException($"The ONNX text classifier's settings name {settings.ClassCount} classes, but its {OnnxZipEntries.OnnxSource} has {classifier.ClassCount}: the model file is corrupt.");
            return new OnnxTextClassificationTransformer(classifier, tokenizer, settings, keyValues);
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }
}
