using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Tests.Classification;
using MLNet.MoE.Tests.Tokenization;

namespace MLNet.MoE.Tests.Fuzzing;

/// <summary>
/// One small text classifier, trained in a few steps on review sentences with the small Hugging Face tokenizer (so its
/// <c>Tokenizer.bin</c> holds a whole tokenizer.json) and saved once with the label's key mapping, as a user saves it;
/// shared by the classifier-zip fuzzing and its regression tests.
/// </summary>
internal sealed class SavedClassifier
{
    private static readonly Lazy<SavedClassifier> Shared = new(() => new SavedClassifier());

    private SavedClassifier()
    {
        var ml = new MLContext(seed: 1);
        var options = ClassificationTestData.Options(epochs: 1);
        options.MaxSteps = 4;
        options.Tokenizer = MoeTokenizer.FromHuggingFaceJson(TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory()));
        var reviews = ClassificationTestData.Reviews(72);
        var training = ml.Data.LoadFromEnumerable(reviews.Take(64).ToList());
        Rows = ml.Data.LoadFromEnumerable(reviews.Skip(64).Append(new ClassificationTestData.Review { Text = "Great phone 👍🏽, the 🇫🇷 charger died 😀" }).ToList());
        var model = ClassificationTestData.ClassifierPipeline(ml, options).Fit(training);
        string path = Path.Combine(TestPaths.NewTempDirectory(), "classifier.zip");
        ml.Model.Save(model, training.Schema, path);
        ClassificationTestData.Classifier(model).Dispose();
        Bytes = File.ReadAllBytes(path);
        using var zip = new ZipArchive(new MemoryStream(Bytes), ZipArchiveMode.Read);
        string weights = zip.Entries.Single(e => e.FullName.EndsWith("/Weights.bin", StringComparison.Ordinal)).FullName;
        Folder = weights[..(weights.LastIndexOf('/') + 1)];
        Entries = zip.Entries.Select(e => e.FullName).Where(n => n.StartsWith(Folder, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        Scores = Score(new MLContext(seed: 1), path);
    }

    /// <summary>The classifier, shared.</summary>
    public static SavedClassifier Instance => Shared.Value;

    /// <summary>The saved model zip.</summary>
    public byte[] Bytes { get; }

    /// <summary>The classifier's folder inside the zip, ending with '/'.</summary>
    public string Folder { get; }

    /// <summary>The classifier's entries: Config.json, Model.key (its settings), Tokenizer.bin and Weights.bin.</summary>
    public string[] Entries { get; }

    /// <summary>Rows the classifier did not train on, one of them with emoji, a flag and a skin tone.</summary>
    public IDataView Rows { get; }

    /// <summary>The class probabilities of <see cref="Rows"/>, row after row, as saved.</summary>
    public float[] Scores { get; }

    /// <summary>A copy of the zip written to a new file, with <paramref name="change"/> applied to the classifier's entry <paramref name="entry"/> (its CRC-32 rewritten).</summary>
    public string WriteWith(string entry, Func<byte[], byte[]> change)
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "classifier.zip");
        File.WriteAllBytes(path, Bytes);
        ZipEntries.Rewrite(path, e => e.FullName == Folder + entry, change);
        return path;
    }

    /// <summary>The class probabilities of <see cref="Rows"/> from the zip at <paramref name="path"/>, row after row.</summary>
    public float[] Score(MLContext ml, string path)
    {
        var model = ml.Model.Load(path, out _);
        try
        {
            return model.Transform(Rows).GetColumn<float[]>("Score").SelectMany(p => p).ToArray();
        }
        finally
        {
            foreach (var t in model as IEnumerable<ITransformer> ?? [model]) (t as IDisposable)?.Dispose();
        }
    }
}
