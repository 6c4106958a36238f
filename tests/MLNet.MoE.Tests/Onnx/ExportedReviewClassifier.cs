using Microsoft.ML;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>
/// A review classifier (Boolean label, so its key values are Boolean) trained on 96 reviews and exported to ONNX once,
/// with 40 held-out reviews to score; shared by the tests of a class. Without the wide n-gram branch; see
/// <see cref="ExportedWideReviewClassifier"/> for one with it.
/// </summary>
public class ExportedReviewClassifier : IDisposable
{
    public ExportedReviewClassifier()
        : this(ngramBuckets: 0)
    {
    }

    protected ExportedReviewClassifier(int ngramBuckets)
    {
        Ml = new MLContext(seed: 1);
        var rows = Reviews(136);
        TestRows = rows.Skip(96).ToList();
        Test = Ml.Data.LoadFromEnumerable(TestRows);
        var options = Options();
        options.NgramBuckets = ngramBuckets;
        Model = ClassifierPipeline(Ml, options).Fit(Ml.Data.LoadFromEnumerable(rows.Take(96).ToList()));
        Directory = TestPaths.NewTempDirectory();
        Ml.MoE().ExportOnnx(Transformer, Directory);
    }

    public MLContext Ml { get; }

    /// <summary>The held-out rows.</summary>
    public List<Review> TestRows { get; }

    /// <summary>The held-out rows as a data view (Text, Label).</summary>
    public IDataView Test { get; }

    /// <summary>The TorchSharp pipeline: the label's key mapping, then the classifier.</summary>
    public ITransformer Model { get; }

    /// <summary>The label's key mapping, the first transformer of <see cref="Model"/>.</summary>
    public ITransformer KeyMapping => ((IEnumerable<ITransformer>)Model).First();

    /// <summary>The TorchSharp classifier.</summary>
    public MoeTextClassificationTransformer Transformer => Classifier(Model);

    /// <summary>The export folder (model.onnx and the tokenizer).</summary>
    public string Directory { get; }

    public void Dispose()
    {
        Transformer.Dispose();
        GC.SuppressFinalize(this);
    }
}
