using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Tests.Pipeline;

namespace MLNet.MoE.Tests.Classification;

/// <summary>Review rows shipped in the repository and tiny classifier options shared by the classification tests.</summary>
public static class ClassificationTestData
{
    public sealed class Review
    {
        public string Text { get; set; } = "";

        public bool Label { get; set; }
    }

    public sealed class TextLabel
    {
        public string Text { get; set; } = "";

        public string Label { get; set; } = "";
    }

    public sealed class LabelOnly
    {
        public string Label { get; set; } = "";
    }

    public sealed class Pair
    {
        public string Text { get; set; } = "";

        public string Other { get; set; } = "";

        public string Label { get; set; } = "";
    }

    public sealed class Prediction
    {
        public uint PredictedLabel { get; set; }

        public float[] Score { get; set; } = Array.Empty<float>();
    }

    /// <summary>The first <paramref name="count"/> labelled review sentences shipped in the repository.</summary>
    public static List<Review> Reviews(int count) =>
        File.ReadLines(TestPaths.AmazonReviews).Take(count).Select(line =>
        {
            int tab = line.LastIndexOf('\t');
            return new Review { Text = line[..tab], Label = line[(tab + 1)..].Trim() == "1" };
        }).ToList();

    /// <summary>A backbone of two blocks (dense + MoE with shared expert, groups and an MTP module the classifier must ignore).</summary>
    public static MoeModelConfig TinyConfig => PipelineTestData.SmallConfig;

    /// <summary>A fast recipe on <see cref="TinyConfig"/>, without the wide n-gram branch: these tests pin the network's behaviour (WideBranchTests cover the branch).</summary>
    public static MoeTextClassificationOptions Options(int epochs = 2) => new()
    {
        Model = TinyConfig,
        NgramBuckets = 0,
        MaxLength = 48,
        BatchSize = 16,
        Epochs = epochs,
        WarmupSteps = 2,
        LearningRate = 3e-3,
        ValidationFraction = 0.2,
        EarlyStoppingPatience = 2,
        LogEverySteps = 2,
        Seed = 3,
    };

    public static IEstimator<ITransformer> ClassifierPipeline(MLContext ml, MoeTextClassificationOptions options) =>
        ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.MoeTextClassification(options));

    /// <summary>
    /// A one-epoch classifier of text pairs over the first 40 reviews (each review paired with the next one's text in
    /// column <c>Other</c>), the pairs it was trained on, and the fitted pipeline; with the wide n-gram branch when
    /// <paramref name="ngramBuckets"/> is above 0.
    /// </summary>
    public static (ITransformer Model, IDataView Data, List<Pair> Pairs) TrainedPairClassifier(MLContext ml, int ngramBuckets = 0)
    {
        var reviews = Reviews(40);
        var pairs = reviews.Select((r, i) => new Pair { Text = r.Text, Other = reviews[(i + 1) % reviews.Count].Text, Label = r.Label ? "pos" : "neg" }).ToList();
        var data = ml.Data.LoadFromEnumerable(pairs);
        var options = Options(epochs: 1);
        options.SecondTextColumnName = "Other";
        options.NgramBuckets = ngramBuckets;
        return (ClassifierPipeline(ml, options).Fit(data), data, pairs);
    }

    public static MoeTextClassificationTransformer Classifier(ITransformer model) =>
        ((IEnumerable<ITransformer>)model).OfType<MoeTextClassificationTransformer>().Single();

    /// <summary>Receives progress reports on the reporting thread, in order (<see cref="Progress{T}"/> would post them to the thread pool).</summary>
    public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>One trained classifier over 96 reviews, shared by the tests of a class.</summary>
    public sealed class TrainedClassifier : IDisposable
    {
        public TrainedClassifier()
        {
            Ml = new MLContext(seed: 1);
            var rows = Reviews(120);
            Train = Ml.Data.LoadFromEnumerable(rows.Take(96).ToList());
            Test = Ml.Data.LoadFromEnumerable(rows.Skip(96).ToList());
            Model = ClassifierPipeline(Ml, Options()).Fit(Train);
        }

        public MLContext Ml { get; }

        public IDataView Train { get; }

        public IDataView Test { get; }

        public ITransformer Model { get; }

        public void Dispose() => Classifier(Model).Dispose();
    }
}
