using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE;

/// <summary>
/// The text-classification table: ML.NET's <c>FeaturizeText</c> + <c>LbfgsMaximumEntropy</c> and
/// <c>FeaturizeText</c> + <c>SdcaMaximumEntropy</c> (both at their defaults) and the MoE classifier (at its defaults, or
/// with the options given) trained on the same rows of a tab-separated file and scored on the same held-out rows. One JSON
/// line per trainer and fold: data set, rows, classes, micro / macro accuracy, log-loss, training seconds.
/// </summary>
internal static class TextClassificationBenchmark
{
    /// <summary>A row of the file: the text and its label (as text).</summary>
    private sealed class Row
    {
        public string Text { get; set; } = "";

        public string Label { get; set; } = "";
    }

    /// <summary>
    /// Runs the trainers named in <paramref name="trainers"/> (<c>lbfgs</c>, <c>sdca</c>, <c>moe</c>) on
    /// <paramref name="path"/>: <paramref name="folds"/> = 1 holds out <paramref name="testFraction"/> of the rows
    /// (ML.NET's <c>TrainTestSplit</c> with <paramref name="seed"/>), more runs that many folds of cross-validation.
    /// </summary>
    public static IEnumerable<object> Run(string path, bool header, int textColumn, int labelColumn, double testFraction, int folds, int seed,
        IReadOnlyCollection<string> trainers, string device, Action<MoeTextClassificationOptions> adjust, string variant)
    {
        var ml = new MLContext(seed: seed);
        var loader = ml.Data.CreateTextLoader(new TextLoader.Options
        {
            Separators = new[] { '\t' },
            HasHeader = header,
            AllowQuoting = false,
            Columns = new[]
            {
                new TextLoader.Column("Text", DataKind.String, textColumn),
                new TextLoader.Column("Label", DataKind.String, labelColumn),
            },
        });
        IDataView data = ml.Data.Cache(loader.Load(path));
        long rows = ml.Data.CreateEnumerable<Row>(data, reuseRowObject: true).LongCount();
        int classes = ml.Data.CreateEnumerable<Row>(data, reuseRowObject: true).Select(r => r.Label).Distinct().Count();
        var splits = folds <= 1
            ? new[] { ml.Data.TrainTestSplit(data, testFraction, seed: seed) }
            : ml.Data.CrossValidationSplit(data, folds, seed: seed).ToArray();
        for (int fold = 0; fold < splits.Length; fold++)
        {
            foreach (string trainer in trainers)
            {
                var keyed = ml.Transforms.Conversion.MapValueToKey("Label");
                IEstimator<ITransformer> pipeline = trainer switch
                {
                    "lbfgs" => keyed.Append(ml.Transforms.Text.FeaturizeText("Features", "Text"))
                        .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy()),
                    "sdca" => keyed.Append(ml.Transforms.Text.FeaturizeText("Features", "Text"))
                        .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy()),
                    "moe" => keyed.Append(ml.MulticlassClassification.Trainers.MoeTextClassification(Options(seed, device, adjust))),
                    _ => throw new ArgumentException($"--trainers: unknown trainer '{trainer}' (lbfgs, sdca, moe)."),
                };
                var clock = Stopwatch.StartNew();
                var model = pipeline.Fit(splits[fold].TrainSet);
                double seconds = clock.Elapsed.TotalSeconds;
                var metrics = ml.MulticlassClassification.Evaluate(model.Transform(splits[fold].TestSet));
                (model as IDisposable)?.Dispose();
                yield return new
                {
                    benchmark = "text-classification",
                    data = Path.GetFileName(path),
                    rows,
                    classes,
                    fold = folds <= 1 ? 0 : fold + 1,
                    folds = Math.Max(1, folds),
                    seed,
                    trainer = trainer == "moe" ? "MoeTextClassification" : trainer == "lbfgs" ? "FeaturizeText+LbfgsMaximumEntropy" : "FeaturizeText+SdcaMaximumEntropy",
                    variant = trainer == "moe" ? variant : "defaults",
                    device = trainer == "moe" ? device : "cpu",
                    micro_accuracy = Math.Round(metrics.MicroAccuracy, 4),
                    macro_accuracy = Math.Round(metrics.MacroAccuracy, 4),
                    log_loss = Math.Round(metrics.LogLoss, 4),
                    train_seconds = Math.Round(seconds, 1),
                    processors = Environment.ProcessorCount,
                };
            }
        }
    }

    private static MoeTextClassificationOptions Options(int seed, string device, Action<MoeTextClassificationOptions> adjust)
    {
        var options = new MoeTextClassificationOptions
        {
            Seed = seed,
            Device = device == "cuda" ? ComputeDevice.Cuda : ComputeDevice.Cpu,
            LogEverySteps = 100,
        };
        adjust(options);
        return options;
    }

    /// <summary>Applies the <c>--moe-*</c> options of the command line to the classifier's options (ablations).</summary>
    public static Action<MoeTextClassificationOptions> Adjustments(Func<string, string> option) => options =>
    {
        static double Number(string value) => double.Parse(value, CultureInfo.InvariantCulture);
        if (option("--epochs") is { Length: > 0 } epochs) options.Epochs = (int)Number(epochs);
        if (option("--max-length") is { Length: > 0 } maxLength) options.MaxLength = (int)Number(maxLength);
        if (option("--lr") is { Length: > 0 } lr) options.LearningRate = Number(lr);
        if (option("--batch") is { Length: > 0 } batch) options.BatchSize = (int)Number(batch);
        if (option("--validation-fraction") is { Length: > 0 } validation) options.ValidationFraction = Number(validation);
        if (option("--patience") is { Length: > 0 } patience) options.EarlyStoppingPatience = (int)Number(patience);
        if (option("--lm-steps") is { Length: > 0 } lmSteps) options.LanguageModelSteps = (int)Number(lmSteps);
        if (option("--ngram-buckets") is { Length: > 0 } buckets) options.NgramBuckets = (int)Number(buckets);
        if (option("--ngram-lr-scale") is { Length: > 0 } ngramScale) options.NgramLearningRateScale = Number(ngramScale);
        if (option("--dropout") is { Length: > 0 } dropout) options.Dropout = Number(dropout);
        if (option("--weight-decay") is { Length: > 0 } decay) options.WeightDecay = Number(decay);
        if (option("--init") is { Length: > 0 } init) options.Initialization = Enum.Parse<WeightInitialization>(init, ignoreCase: true);
    };
}
