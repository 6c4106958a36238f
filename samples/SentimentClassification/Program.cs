// MLNet.MoE sentiment classification: 5-fold cross-validated accuracy (seed 1) on the Amazon cell-phone reviews
// (1,000 sentences labelled 0/1) of
//   (baseline) ML.NET FeaturizeText + SdcaLogisticRegression,
//   (a) a Mixture-of-Experts text classifier trained from random weights,
//   (b) the same classifier whose backbone was first trained as a language model on the King James Bible,
// then saves the first fold's classifier, reloads it, checks a PredictionEngine gives the same probabilities and exports
// it to ONNX. Options (--backbone, --head-hidden, --ensemble, --seeds, ...): see README.md.
//
//   dotnet run --project samples/SentimentClassification -c Release [-- --out sentiment-output]
//   --quick (or MLNET_MOE_SAMPLE_QUICK=1): fewer rows, epochs and language-model steps, for CI.
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE;

bool quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
string outDirectory = Argument("--out") ?? Path.Combine(Path.GetTempPath(), "mlnet-moe-sentiment");
string dataDirectory = Argument("--data") ?? Path.Combine(AppContext.BaseDirectory, "Data");   // data/amazon_cells_labelled.txt, copied beside the program
int languageModelSteps = int.Parse(Argument("--lm-steps") ?? (quick ? "4" : "600"), CultureInfo.InvariantCulture);
int epochs = int.Parse(Argument("--epochs") ?? (quick ? "1" : "12"), CultureInfo.InvariantCulture);
string tokenizerName = Argument("--tokenizer") ?? (quick ? "bytes" : "gpt2");
// --backbone tiny: MoeModelConfig.Tiny (hidden 128, 4 blocks, 8 routed experts) instead of the classifier's default (hidden 64, 2 blocks);
// --backbone small: MoeModelConfig.Small (hidden 256, 4 blocks, 8 routed experts), for a GPU; --backbone medium: hidden 384, 6 blocks.
string backboneName = Argument("--backbone") ?? "default";
// The language model's context, batch and peak learning rate, and the classifier's peak learning rate and tokens per row.
int languageModelContext = int.Parse(Argument("--lm-context") ?? "64", CultureInfo.InvariantCulture);
int languageModelBatch = int.Parse(Argument("--lm-batch") ?? "16", CultureInfo.InvariantCulture);
int languageModelWarmup = int.Parse(Argument("--lm-warmup") ?? "30", CultureInfo.InvariantCulture);
double languageModelRate = double.Parse(Argument("--lm-lr") ?? "3e-3", CultureInfo.InvariantCulture);
double classifierRate = double.Parse(Argument("--lr") ?? "2e-3", CultureInfo.InvariantCulture);
int maxLength = int.Parse(Argument("--max-length") ?? "64", CultureInfo.InvariantCulture);
// The wide branch of hashed n-grams (MoeTextClassificationOptions.NgramBuckets): off here (0), so the figures are the network's
// alone; --ngram-buckets 262144 is the trainer's default (the ONNX export carries the branch either way).
int ngramBuckets = int.Parse(Argument("--ngram-buckets") ?? "0", CultureInfo.InvariantCulture);
// The classifier's pooling (mean or last), dropout and held-out fraction for early stopping.
var pooling = (Argument("--pooling") ?? "mean") switch
{
    "mean" => TextPooling.Mean,
    "last" => TextPooling.LastToken,
    var other => throw new ArgumentException($"--pooling must be mean or last, not '{other}'."),
};
double dropout = double.Parse(Argument("--dropout") ?? "0.1", CultureInfo.InvariantCulture);
int headHiddenSize = int.Parse(Argument("--head-hidden") ?? "0", CultureInfo.InvariantCulture);
double validationFraction = double.Parse(Argument("--validation-fraction") ?? "0.1", CultureInfo.InvariantCulture);
// For (b): language-model steps on each training fold's own sentences before classifying, and the backbone's learning-rate scale.
int adaptSteps = int.Parse(Argument("--adapt-steps") ?? "0", CultureInfo.InvariantCulture);
double backboneScale = double.Parse(Argument("--backbone-lr-scale") ?? "1", CultureInfo.InvariantCulture);
// --lm-model FILE: a language-model zip from an earlier run (same tokenizer and backbone) instead of training one.
string? reusedLanguageModel = Argument("--lm-model");
bool skipScratch = args.Contains("--skip-scratch");
// --lm-corpus FILE: the language model's text for (b), one document a line (default: data/kjv-pentateuch.txt).
string? languageModelCorpus = Argument("--lm-corpus");
// --ensemble K: (b) trains K classifiers (seeds s, s+1, ...) and averages their probabilities (EnsembleSize).
int ensembleSize = int.Parse(Argument("--ensemble") ?? "1", CultureInfo.InvariantCulture);
// --capacity-factor F: expert capacity while fine-tuning, as a multiple of the mean load (the trainer's default 2).
double capacityFactor = double.Parse(Argument("--capacity-factor") ?? "2", CultureInfo.InvariantCulture);
// --seeds 1,2,3: (b) once per seed; then also the mean over the seeds and the accuracy of averaging their probabilities.
int[] seeds = (Argument("--seeds") ?? "1").Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
Directory.CreateDirectory(outDirectory);
var clock = Stopwatch.StartNew();
// GpuDeviceId + FallbackToCpu: the classifiers and the language model train on CUDA when TorchSharp finds a GPU, else on the CPU.
var ml = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };

var reviewsPath = Path.Combine(dataDirectory, "amazon_cells_labelled.txt");
var loader = ml.Data.CreateTextLoader(new TextLoader.Options
{
    Columns = new[] { new TextLoader.Column("Text", DataKind.String, 0), new TextLoader.Column("Label", DataKind.Boolean, 1) },
    Separators = new[] { '\t' },
    HasHeader = false,
    AllowQuoting = false,
});
IDataView reviews = loader.Load(reviewsPath);
if (quick) reviews = ml.Data.TakeRows(reviews, 120);
int folds = 5;
Console.WriteLine($"{reviewsPath}: {ml.Data.CreateEnumerable<Review>(reviews, reuseRowObject: false).Count()} rows; {folds}-fold cross-validation, seed 1{(quick ? " (quick mode)" : "")}.");

var results = new List<(string Name, double Mean, double Std, TimeSpan Time)>();

// Baseline: ML.NET's bag of n-grams and a linear model.
var timer = Stopwatch.StartNew();
var baseline = ml.Transforms.Text.FeaturizeText("Features", "Text").Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression());
var baselineFolds = ml.BinaryClassification.CrossValidate(reviews, baseline, numberOfFolds: folds, seed: 1);
Report("ML.NET FeaturizeText + SdcaLogisticRegression", baselineFolds.Select(f => f.Metrics.Accuracy).ToArray(), timer.Elapsed);

MoeTokenizer tokenizer = tokenizerName == "bytes" ? MoeTokenizer.ByteLevel() : MoeTokenizer.Tiktoken(tokenizerName);
var backbone = (backboneName switch
{
    "default" => MoeTextClassificationOptions.DefaultModel,
    "tiny" => MoeModelConfig.Tiny,
    "small" => MoeModelConfig.Small,
    // Small widened to 384 and deepened to 6 blocks (about 3.4 times its compute a token), for a GPU.
    "medium" => MoeModelConfig.Small with
    {
        HiddenSize = 384, IntermediateSize = 1152, MoeIntermediateSize = 192, NumHiddenLayers = 6, NumAttentionHeads = 6,
        NumKeyValueHeads = 6, KvLoraRank = 96,
    },
    _ => throw new ArgumentException($"--backbone must be default, tiny, small or medium, not '{backboneName}'."),
}) with { VocabSize = tokenizer.VocabularySize };
MoeTextClassificationOptions ClassifierOptions() => new()
{
    Model = backbone,
    Tokenizer = tokenizer,
    MaxLength = maxLength,
    NgramBuckets = ngramBuckets,
    Epochs = epochs,
    BatchSize = 32,
    LearningRate = classifierRate,
    WarmupSteps = quick ? 1 : 20,
    Dropout = dropout,
    HeadHiddenSize = headHiddenSize,
    Pooling = pooling,
    ValidationFraction = validationFraction,
    EarlyStoppingPatience = 3,
    LogEverySteps = 1000,
};

// (a) From random weights.
timer.Restart();
if (!skipScratch)
{
    var scratch = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.MulticlassClassification.Trainers.MoeTextClassification(ClassifierOptions()));
    var scratchFolds = ml.MulticlassClassification.CrossValidate(reviews, scratch, numberOfFolds: folds, seed: 1);
    Report($"MoE classifier from scratch ({tokenizer.Name} tokens)", scratchFolds.Select(f => f.Metrics.MicroAccuracy).ToArray(), timer.Elapsed);
    foreach (var f in scratchFolds) (f.Model as IDisposable)?.Dispose();
}

// (b) Backbone first trained as a language model on the King James Bible (the same architecture and tokenizer).
timer.Restart();
string corpusPath = languageModelCorpus ?? Path.Combine(dataDirectory, "kjv-pentateuch.txt");
string languageModelPath = Path.Combine(outDirectory, Path.GetFileNameWithoutExtension(corpusPath) + "-language-model.zip");
if (reusedLanguageModel != null)
{
    languageModelPath = reusedLanguageModel;
    Console.WriteLine($"Language model: reusing {languageModelPath}.");
}
else
{
    var verses = File.ReadLines(corpusPath).Where(l => l.Length > 0);
    if (quick) verses = verses.Take(400);
    var corpus = ml.Data.LoadFromEnumerable(verses.Select(v => new Review { Text = v }).ToList());
    var languageModel = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer)
        .Append(ml.MoE().Trainers.LanguageModel(new LanguageModelOptions
        {
            Model = backbone,
            ContextLength = languageModelContext,
            BatchSize = languageModelBatch,
            MaxSteps = languageModelSteps,
            WarmupSteps = Math.Min(languageModelWarmup, languageModelSteps / 10),
            LearningRate = languageModelRate,
            ValidationFraction = 0.01,
            LogEverySteps = Math.Max(1, languageModelSteps / 5),
            Progress = new ConsoleProgress<LanguageModelProgress>(p => Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "  language model step {0}/{1}: loss {2:F4}{3}, {4:N0} tokens/s", p.Step, p.TotalSteps, p.Loss,
                p.ValidationLoss is double v ? $", validation loss {v:F4}" : "", p.TokensPerSecond))),
        }))
        .Fit(corpus);
    ml.Model.Save(languageModel, corpus.Schema, languageModelPath);
    Console.WriteLine($"Language model: {languageModelSteps} steps on {Path.GetFileName(corpusPath)} in {timer.Elapsed.TotalSeconds:F0} s, saved to {languageModelPath}.");
}
var pretrainTime = timer.Elapsed;
timer.Restart();
string pretraining = reusedLanguageModel != null ? $"language model {Path.GetFileName(reusedLanguageModel)}" : $"{languageModelSteps} LM steps of {languageModelBatch}×{languageModelContext} tokens, {pretrainTime.TotalSeconds:F0} s";
string pretrainedOn = reusedLanguageModel != null ? "a language model" : Path.GetFileName(corpusPath);
string recipe = $"{adaptSteps} steps on each fold's text, learning rate {classifierRate}, backbone ×{backboneScale}, {maxLength} tokens a row, {pooling} pooling, head hidden {headHiddenSize}, dropout {dropout}, {epochs} epochs, validation {validationFraction}{(capacityFactor != 2 ? $", capacity factor {capacityFactor}" : "")}{(ensembleSize > 1 ? $", ensemble of {ensembleSize}" : "")}";
IReadOnlyList<TrainCatalogBase.CrossValidationResult<MulticlassClassificationMetrics>>? pretrainedFolds = null;
// Per seed, per fold: each held-out row's label and class probabilities, for the probability average over seeds.
var heldOut = new List<List<(uint Label, float[] Score)[]>>();
foreach (int seed in seeds)
{
    timer.Restart();
    var pretrainedOptions = ClassifierOptions();
    pretrainedOptions.Model = null;
    pretrainedOptions.Tokenizer = null;
    pretrainedOptions.LanguageModelPath = languageModelPath;
    pretrainedOptions.LanguageModelSteps = adaptSteps;
    pretrainedOptions.BackboneLearningRateScale = backboneScale;
    pretrainedOptions.CapacityFactor = capacityFactor;
    pretrainedOptions.EnsembleSize = ensembleSize;
    pretrainedOptions.Seed = seed;
    var pretrained = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.MulticlassClassification.Trainers.MoeTextClassification(pretrainedOptions));
    var seedFolds = ml.MulticlassClassification.CrossValidate(reviews, pretrained, numberOfFolds: folds, seed: 1);
    Report($"MoE classifier, backbone pre-trained on {pretrainedOn} ({pretraining}; {recipe}; seed {seed})", seedFolds.Select(f => f.Metrics.MicroAccuracy).ToArray(), timer.Elapsed);
    heldOut.Add(seedFolds.Select(f => LabelsAndScores(f.ScoredHoldOutSet)).ToList());
    if (pretrainedFolds == null) pretrainedFolds = seedFolds;
    else foreach (var f in seedFolds) (f.Model as IDisposable)?.Dispose();
}
if (seeds.Length > 1)
{
    var perSeed = results.TakeLast(seeds.Length).ToList();
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "Mean over seeds {0}: accuracy {1:F3} (seed means {2})", string.Join(",", seeds),
        perSeed.Average(r => r.Mean), string.Join(" ", perSeed.Select(r => r.Mean.ToString("F3", CultureInfo.InvariantCulture)))));
    var ensemble = Enumerable.Range(0, folds).Select(fold =>
    {
        var rows = heldOut[0][fold];
        int correct = 0;
        for (int i = 0; i < rows.Length; i++)
        {
            int classes = rows[i].Score.Length;
            var mean = new double[classes];
            foreach (var seedRows in heldOut)
            {
                if (seedRows[fold][i].Label != rows[i].Label) throw new InvalidOperationException("The seeds' held-out rows differ.");
                for (int c = 0; c < classes; c++) mean[c] += seedRows[fold][i].Score[c];
            }
            if (Array.IndexOf(mean, mean.Max()) == rows[i].Label - 1) correct++;
        }
        return (double)correct / rows.Length;
    }).ToArray();
    Report($"Ensemble: the probabilities of seeds {string.Join(",", seeds)} averaged", ensemble, TimeSpan.Zero);
}

// Save the first fold's classifier, reload it and compare a PredictionEngine's probabilities.
// MapKeyToValue turns the predicted key back into the label's values (false/true).
var foldModel = pretrainedFolds![0].Model;
var model = new TransformerChain<ITransformer>(foldModel, ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(foldModel.Transform(reviews)));
string classifierPath = Path.Combine(outDirectory, "sentiment-classifier.zip");
ml.Model.Save(model, reviews.Schema, classifierPath);
var reloaded = ml.Model.Load(classifierPath, out _);
var before = ml.Model.CreatePredictionEngine<Review, Prediction>(model);
var after = ml.Model.CreatePredictionEngine<Review, Prediction>(reloaded);
foreach (string text in new[] { "Great phone, works perfectly.", "The battery died after two days, very disappointed." })
{
    var p = before.Predict(new Review { Text = text });
    var q = after.Predict(new Review { Text = text });
    if (!p.Score.SequenceEqual(q.Score)) throw new InvalidOperationException("The reloaded classifier scores differently.");
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "\"{0}\" → {1} (P(positive) = {2:F3}; reloaded model agrees)", text, p.PredictedLabel, p.Score[1]));
}
// The same classifier as an ONNX model (input_ids + attention_mask, and the n-grams with --ngram-buckets, → probabilities),
// with its tokenizer beside it.
string onnxDirectory = Path.Combine(outDirectory, "sentiment-classifier-onnx");
var classifierStage = ((IEnumerable<ITransformer>)foldModel).OfType<MoeTextClassificationTransformer>().Single();
if (classifierStage.EnsembleSize == 1)
{
    ml.MoE().ExportOnnx(classifierStage, onnxDirectory);
    Console.WriteLine($"Exported the classifier to ONNX: {onnxDirectory} ({new FileInfo(Path.Combine(onnxDirectory, "model.onnx")).Length / 1024.0:N0} KiB model.onnx).");
}
else
{
    Console.WriteLine($"ONNX export skipped: the classifier is an ensemble of {classifierStage.EnsembleSize}, and an ONNX graph holds one classifier.");
}
foreach (var f in pretrainedFolds) (f.Model as IDisposable)?.Dispose();

Console.WriteLine();
Console.WriteLine($"| Model | Accuracy ({folds}-fold CV, seed 1) | Std | Time |");
Console.WriteLine("|---|---|---|---|");
foreach (var r in results) Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| {0} | {1:F3} | {2:F3} | {3:F0} s |", r.Name, r.Mean, r.Std, r.Time.TotalSeconds));
Console.WriteLine($"Total {clock.Elapsed.TotalMinutes:F1} min.");

void Report(string name, double[] accuracies, TimeSpan time)
{
    double mean = accuracies.Average();
    double std = Math.Sqrt(accuracies.Sum(a => (a - mean) * (a - mean)) / accuracies.Length);
    results.Add((name, mean, std, time));
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}: accuracy {1:F3} ± {2:F3} (folds {3}) in {4:F0} s", name, mean, std, string.Join(" ", accuracies.Select(a => a.ToString("F3", CultureInfo.InvariantCulture))), time.TotalSeconds));
}

string? Argument(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

// Each row's label key and class probabilities, in the data view's order.
static (uint Label, float[] Score)[] LabelsAndScores(IDataView scored)
{
    var label = scored.Schema["Label"];
    var score = scored.Schema["Score"];
    var rows = new List<(uint, float[])>();
    using var cursor = scored.GetRowCursor(new[] { label, score });
    var labelGetter = cursor.GetGetter<uint>(label);
    var scoreGetter = cursor.GetGetter<VBuffer<float>>(score);
    uint key = 0;
    VBuffer<float> values = default;
    while (cursor.MoveNext())
    {
        labelGetter(ref key);
        scoreGetter(ref values);
        rows.Add((key, values.DenseValues().ToArray()));
    }
    return rows.ToArray();
}

/// <summary>Reports progress on the calling thread (<see cref="Progress{T}"/> would post to the thread pool and reorder lines).</summary>
internal sealed class ConsoleProgress<T>(Action<T> write) : IProgress<T>
{
    public void Report(T value) => write(value);
}

/// <summary>A review sentence and its label.</summary>
internal sealed class Review
{
    public string Text { get; set; } = "";

    public bool Label { get; set; }
}

/// <summary>What the classifier adds.</summary>
internal sealed class Prediction
{
    public bool PredictedLabel { get; set; }

    public float[] Score { get; set; } = Array.Empty<float>();
}
