using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Onnx;
using Xunit.Abstractions;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>
/// A text classifier with the wide branch of hashed n-grams (the trainer's default) exported to ONNX and loaded with
/// <c>mlContext.MoeOnnx().LoadTextClassifier</c>: the ONNX transformer hashes the n-grams itself and scores as the
/// TorchSharp transformer does (probabilities within 1e-4, the same labels), for one text and for text pairs; an export
/// whose n-grams were hashed otherwise is refused.
/// </summary>
public class OnnxWideTextClassifierTests(ExportedWideReviewClassifier trained, ITestOutputHelper output) : IClassFixture<ExportedWideReviewClassifier>
{
    private const double Tolerance = 1e-4;

    [Fact]
    public void InAPipelineTheOnnxClassifierWithTheWideBranchGivesTheTorchSharpProbabilitiesAndLabels()
    {
        var ml = trained.Ml;
        Assert.True(trained.Transformer.Model.NgramBuckets > 0);
        using var onnx = ml.MoeOnnx().LoadTextClassifier(trained.Directory);
        Assert.Equal(trained.Transformer.ClassNames, onnx.ClassNames);

        // The held-out rows and an empty text (no n-grams), in one data view.
        var rows = trained.TestRows.Append(new Review { Text = "", Label = true }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var torchScored = trained.Model.Transform(data);
        var onnxScored = trained.KeyMapping.Append(onnx).Transform(data);
        var torchScores = torchScored.GetColumn<float[]>("Score").ToList();
        var onnxScores = onnxScored.GetColumn<float[]>("Score").ToList();
        double difference = MaxDifference(torchScores, onnxScores);
        output.WriteLine($"{onnxScores.Count} rows: max |onnx - torch| probability = {difference:E3}");
        Assert.Equal(rows.Count, onnxScores.Count);
        Assert.True(difference < Tolerance, $"max |onnx - torch| probability = {difference:E3}");
        Assert.Equal(torchScored.GetColumn<uint>("PredictedLabel"), onnxScored.GetColumn<uint>("PredictedLabel"));

        // Batches of any size score alike (each batch is padded to its row of most n-grams).
        var texts = rows.Select(r => r.Text).ToList();
        var batched = onnx.PredictProbabilities(texts, batchSize: 7);
        Assert.True(MaxDifference(torchScores, batched) < Tolerance);
        for (int i = 0; i < 3; i++) Assert.True(MaxDifference(new[] { onnx.PredictProbabilities(texts[i]) }, new[] { batched[i] }) < 1e-6);

        // Token ids alone miss the n-grams, as with the TorchSharp transformer.
        var refused = Assert.Throws<InvalidOperationException>(() => onnx.PredictProbabilities(new[] { onnx.Encode("Great phone.") }));
        Assert.Contains("n-grams", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SavedInAModelZipTheOnnxClassifierKeepsItsWideBranch()
    {
        var ml = trained.Ml;
        using var onnx = ml.MoeOnnx().LoadTextClassifier(trained.Directory);
        string zip = Path.Combine(TestPaths.NewTempDirectory(), "onnx-classifier.zip");
        ml.Model.Save(onnx, trained.Test.Schema, zip);
        var loaded = new MLContext(seed: 1).Model.Load(zip, out _);
        try
        {
            Assert.Equal(onnx.Transform(trained.Test).GetColumn<float[]>("Score"), loaded.Transform(trained.Test).GetColumn<float[]>("Score"));
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void AClassifierOfTextPairsWithTheWideBranchScoresAsTheTorchSharpOne()
    {
        var ml = new MLContext(seed: 1);
        var (model, data, pairs) = TrainedPairClassifier(ml, ngramBuckets: 1 << 16);
        using var classifier = Classifier(model);
        Assert.Equal(1 << 16, classifier.Model.NgramBuckets);
        string folder = TestPaths.NewTempDirectory();
        ml.MoE().ExportOnnx(classifier, folder);

        using var onnx = ml.MoeOnnx().LoadTextClassifier(folder);
        Assert.Equal("Other", onnx.SecondTextColumnName);
        var torchScored = model.Transform(data);
        var onnxScored = ((IEnumerable<ITransformer>)model).First().Append(onnx).Transform(data);
        var expected = torchScored.GetColumn<float[]>("Score").ToList();
        var scores = onnxScored.GetColumn<float[]>("Score").ToList();
        double difference = MaxDifference(expected, scores);
        output.WriteLine($"text pairs: max |onnx - torch| probability = {difference:E3} over {scores.Count} rows");
        Assert.True(difference < Tolerance, $"max |onnx - torch| = {difference:E3}");
        Assert.Equal(torchScored.GetColumn<uint>("PredictedLabel"), onnxScored.GetColumn<uint>("PredictedLabel"));
        // The second text's n-grams count: swapping the texts of a pair changes its scores.
        var swapped = onnx.PredictProbabilities(pairs[0].Other, pairs[0].Text);
        Assert.NotEqual(onnx.PredictProbabilities(pairs[0].Text, pairs[0].Other), swapped);
    }

    [Fact]
    public void AnExportHashedWithAnotherNgramVersionIsRefusedNamingTheFileAndTheKey()
    {
        var ml = new MLContext(seed: 1);
        var (folder, modelPath) = CopyOfExport();
        SetMetadata(modelPath, "mlnet_moe.ngram_hash_version", "0");
        var other = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadTextClassifier(folder));
        output.WriteLine(other.Message);
        Assert.Contains(modelPath, other.Message, StringComparison.Ordinal);
        Assert.Contains("'mlnet_moe.ngram_hash_version'", other.Message, StringComparison.Ordinal);
        Assert.Contains("'0'", other.Message, StringComparison.Ordinal);

        SetMetadata(modelPath, "mlnet_moe.ngram_hash_version", null);
        var missing = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadTextClassifier(folder));
        Assert.Contains(modelPath, missing.Message, StringComparison.Ordinal);
        Assert.Contains("'mlnet_moe.ngram_hash_version'", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnExportWhoseGraphReadsNgramsWithoutItsBucketCountOrAsFormatVersionOneIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var (folder, modelPath) = CopyOfExport();
        SetMetadata(modelPath, "mlnet_moe.ngram_buckets", null);
        var noBuckets = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadTextClassifier(folder));
        Assert.Contains(modelPath, noBuckets.Message, StringComparison.Ordinal);
        Assert.Contains("'mlnet_moe.ngram_buckets'", noBuckets.Message, StringComparison.Ordinal);

        (folder, modelPath) = CopyOfExport();
        SetMetadata(modelPath, "mlnet_moe.format_version", "1");
        var versionOne = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadTextClassifier(folder));
        Assert.Contains(modelPath, versionOne.Message, StringComparison.Ordinal);
        Assert.Contains("'mlnet_moe.format_version'", versionOne.Message, StringComparison.Ordinal);

        // A language model is never written as version 2.
        var language = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadLanguageModel(SetMetadata(Path.Combine(CopyOf(TrainedModel.Instance.Directory), "model.onnx"), "mlnet_moe.format_version", "2")));
        Assert.Contains("format version '2'", language.Message, StringComparison.Ordinal);
    }

    private static double MaxDifference(IEnumerable<float[]> expected, IEnumerable<float[]> actual) =>
        expected.Zip(actual, (a, b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max()).Max();

    /// <summary>A copy of the export folder that a test may alter, and its model.onnx.</summary>
    private (string Folder, string ModelPath) CopyOfExport()
    {
        string folder = CopyOf(trained.Directory);
        return (folder, Path.Combine(folder, "model.onnx"));
    }

    private static string CopyOf(string directory)
    {
        string folder = TestPaths.NewTempDirectory();
        foreach (string file in Directory.GetFiles(directory)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        return folder;
    }

    /// <summary>Sets (or, with null, removes) a metadata entry of <paramref name="modelPath"/>; returns the path.</summary>
    private static string SetMetadata(string modelPath, string key, string? value)
    {
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
        foreach (var entry in proto.MetadataProps.Where(p => p.Key == key).ToList()) proto.MetadataProps.Remove(entry);
        if (value != null) proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        File.WriteAllBytes(modelPath, proto.ToByteArray());
        return modelPath;
    }
}
