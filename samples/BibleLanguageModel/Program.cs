// MLNet.MoE sample: train a DeepSeek-style Mixture-of-Experts language model on the whole King James Bible, with a
// held-out validation set, the trainer's periodic checkpoints that a later run resumes from exactly, the GPU when one
// is available, and two charts next to the model: the loss curve and the experts' load over training.
//
//   dotnet run --project samples/BibleLanguageModel -c Release [-- --steps 2000 --checkpoint-every 250 --out artifacts/bible]
//   --quick (or MLNET_MOE_SAMPLE_QUICK=1): a small slice and a few steps, for CI.
//   Run the same command again after an interruption: it resumes from the newest checkpoint (--fresh starts over).
//   --stop-after N ends the run at the first checkpoint at or after step N, as an interruption would.
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using Microsoft.ML;
using Microsoft.ML.Runtime;
using Microsoft.ML.Data;
using MLNet.MoE;

BibleArguments arguments;
try
{
    arguments = BibleArguments.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

var clock = Stopwatch.StartNew();
Directory.CreateDirectory(arguments.OutputDirectory);
string? corpusPath = Corpus.Locate(arguments);
if (corpusPath == null) return 2;

// GpuDeviceId + FallbackToCpu: CUDA when TorchSharp finds a GPU, else the CPU (ComputeDevice.Auto).
var ml = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };
// The trainer's log: the device it picked (CUDA device 0 when TorchSharp finds one, else the CPU), the checkpoint it
// resumes from (or that training starts fresh), and its validation figures. Per-step progress goes to the progress bar.
ml.Log += (_, e) =>
{
    if (e.Kind >= ChannelMessageKind.Info && e.Source.Contains("LanguageModelTrainer", StringComparison.Ordinal) && !e.RawMessage.StartsWith("step ", StringComparison.Ordinal))
        Console.WriteLine(e.RawMessage);
};

// Documents are verses. Every 20th verse is held out and measured with mlContext.MoE().Evaluate after training; the
// trainer's own validation split is turned off (ValidationFraction = 0) so that those verses are never trained on.
var verses = File.ReadLines(corpusPath).Where(l => l.Length > 0);
if (arguments.Quick) verses = verses.Take(1200);
var all = verses.Select((text, index) => new Verse { Text = text, Index = index }).ToList();
IDataView train = ml.Data.LoadFromEnumerable(all.Where(v => v.Index % 20 != 0).ToList());
IDataView validation = ml.Data.LoadFromEnumerable(all.Where(v => v.Index % 20 == 0).ToList());
Console.WriteLine($"Corpus {corpusPath}: {all.Count:N0} verses, {all.Count / 20 + 1:N0} held out for validation.");

var tokenizer = MoeTokenizer.ByteLevel();
var tokenize = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Fit(train);
IDataView trainTokens = tokenize.Transform(train);
IDataView validationTokens = tokenize.Transform(validation);

// The trainer writes checkpoints itself (weights, AdamW state, schedule position, sampler state, report-window
// accumulators and the progress history) and resumes from the newest one exactly: same batches, same learning rates,
// same losses as a run that was never interrupted.
string checkpoints = Path.Combine(arguments.OutputDirectory, "checkpoints");
if (arguments.Fresh && Directory.Exists(checkpoints)) Directory.Delete(checkpoints, recursive: true);
Directory.CreateDirectory(checkpoints); // ResumeFrom must name an existing folder, even an empty one
// The trainer logs which checkpoint it resumes from, or that training starts fresh.

var options = new LanguageModelOptions
{
    TokenColumnName = "Tokens",
    PromptColumnName = "Text",
    Model = BibleModel.Config(arguments.Quick),
    ContextLength = arguments.ContextLength,
    BatchSize = arguments.BatchSize,
    MaxSteps = arguments.Steps,
    LearningRate = arguments.LearningRate,
    WarmupSteps = arguments.WarmupSteps,
    MinLearningRateRatio = 0.1,
    ValidationFraction = 0,
    Seed = 1,
    CheckpointDirectory = checkpoints,
    CheckpointEverySteps = arguments.CheckpointEvery,
    KeepCheckpoints = 2,
    ResumeFrom = checkpoints, // the newest checkpoint there; none: a fresh start
    // Only reported steps carry CheckpointPath, so every checkpoint step must also be a report step.
    LogEverySteps = (int)BigInteger.GreatestCommonDivisor(arguments.LogEvery, arguments.CheckpointEvery),
    Progress = new ConsoleProgressBar(arguments.StopAfter),
    Generation = new GenerationOptions { MaxNewTokens = 120, Temperature = 0.7, TopK = 20, Seed = 7 },
};
LanguageModelTransformer model;
try
{
    model = ml.MoE().Trainers.LanguageModel(options).Fit(trainTokens);
}
catch (Exception e) when ((e as OperationCanceledException ?? e.InnerException as OperationCanceledException) is { } stopped)
{
    Console.WriteLine(stopped.Message);
    return 0;
}
Console.WriteLine();
var summary = model.TrainingSummary!;

var metrics = ml.MoE().Evaluate(model.Transform(validationTokens), textColumnName: "Text");
Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
    "Step {0}: training cross-entropy {1:F4}; held-out verses {2:F4} nats/token (perplexity {3:F3}, {4:F3} bits/byte).",
    summary.Steps, summary.FinalTrainingLoss, metrics.CrossEntropy, metrics.Perplexity, metrics.BitsPerByte));

var final = tokenize.Append(model);
string modelPath = Path.Combine(arguments.OutputDirectory, "model.zip");
ml.MoE().SaveModel(final, train.Schema, modelPath);
Console.WriteLine($"Saved {modelPath}");

string lossChart = Path.Combine(arguments.OutputDirectory, "loss.png");
string loadChart = Path.Combine(arguments.OutputDirectory, "expert-load.png");
Charts.WriteLossCurve(summary.History, summary.Steps, metrics.CrossEntropy, lossChart);
Charts.WriteExpertLoadHeatmap(summary.History, loadChart);
Console.WriteLine($"Wrote {lossChart} and {loadChart}");

string prompt = "And it came to pass";
Console.WriteLine($"Prompt:    {prompt}");
Console.WriteLine($"Generated: {model.Generate(prompt)}");
Console.WriteLine($"Done in {clock.Elapsed.TotalSeconds:F0} s.");
return 0;

/// <summary>One verse: the document the model learns from.</summary>
internal sealed class Verse
{
    public string Text { get; set; } = "";

    [NoColumn]
    public int Index { get; set; }
}
