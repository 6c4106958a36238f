// MLNet.MoE sample: train a DeepSeek-style Mixture-of-Experts language model on the whole King James Bible, with a
// held-out validation set, periodic checkpoints that a later run resumes from, the GPU when one is available, and two
// charts next to the model: the loss curve and the experts' load over training.
//
//   dotnet run --project samples/BibleLanguageModel -c Release [-- --steps 2000 --checkpoint-every 250 --out bible-output]
//   --quick (or MLNET_MOE_SAMPLE_QUICK=1): a small slice and a few steps, for CI.
//   Run the same command again after an interruption: it resumes from the last checkpoint (--fresh starts over).
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Catalog;
using MLNet.MoE.Modeling;
using MLNet.MoE.Pipeline;
using MLNet.MoE.Runtime;
using MLNet.MoE.Tokenization;
using MLNet.MoE.Training;

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
string libtorch = TorchNative.EnsureLoaded(); // a clear message if TorchSharp's native library cannot load
// TryInitializeDeviceType loads the CUDA backend if there is one; cuda.is_available() alone would not.
bool cuda = TorchSharp.torch.TryInitializeDeviceType(TorchSharp.DeviceType.CUDA) && TorchSharp.torch.cuda.is_available();
Console.WriteLine($"libtorch {libtorch}; training on {(cuda ? "CUDA device 0" : "the CPU")}.");

// Documents are verses. Every 20th verse is held out for validation; the trainer's own split is turned off so that the
// same verses stay held out in every round of training, whatever seed the round uses.
var verses = File.ReadLines(corpusPath).Where(l => l.Length > 0);
if (arguments.Quick) verses = verses.Take(1200);
var all = verses.Select((text, index) => new Verse { Text = text, Index = index }).ToList();
IDataView train = ml.Data.LoadFromEnumerable(all.Where(v => v.Index % 20 != 0).ToList());
IDataView validation = ml.Data.LoadFromEnumerable(all.Where(v => v.Index % 20 == 0).ToList());
Console.WriteLine($"Corpus {corpusPath}: {all.Count:N0} verses, {all.Count / 20 + 1:N0} held out for validation.");

var tokenizer = MoeTokenizer.ByteLevel();
var tokenize = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Fit(train);
// Tokenized once and cached: each round of training reads the same token column.
IDataView trainTokens = ml.Data.Cache(tokenize.Transform(train));
IDataView validationTokens = ml.Data.Cache(tokenize.Transform(validation));

var store = new CheckpointStore(Path.Combine(arguments.OutputDirectory, "checkpoints"));
if (arguments.Fresh) store.Clear();
TrainingState state = store.LoadState() ?? new TrainingState { TotalSteps = arguments.Steps };
if (state.TotalSteps != arguments.Steps)
{
    Console.Error.WriteLine($"The checkpoints in {store.Directory} belong to a run of {state.TotalSteps} steps, not {arguments.Steps}: pass --steps {state.TotalSteps} to resume it, or --fresh to start over.");
    return 2;
}

MoeCausalLM? weights = null;
if (state.StepsDone > 0)
{
    weights = store.LoadModel(ml, state.StepsDone).Model;
    Console.WriteLine($"Resuming from the checkpoint at step {state.StepsDone} of {state.TotalSteps}.");
}

const double MinRatio = 0.1; // final learning rate as a fraction of the peak
var schedule = new LearningRateSchedule(arguments.LearningRate, MinRatio, arguments.WarmupSteps, arguments.Steps);
LanguageModelTransformer? model = null;
while (state.StepsDone < state.TotalSteps)
{
    int from = state.StepsDone;
    int to = Math.Min(from + arguments.CheckpointEvery, state.TotalSteps);
    if (arguments.StopAfter is int stop && from >= stop)
    {
        Console.WriteLine($"Stopping after step {from} as asked (--stop-after); run the same command again to resume.");
        return 0;
    }
    // One round = one Fit, starting from the previous round's weights. The rounds follow the run's warm-up + cosine
    // schedule piecewise: the first round warms up, then each round decays (cosine) from the run's rate at its first
    // step to the run's rate at its last. AdamW's moment estimates start afresh each round: the trainer has no
    // optimizer-state checkpoint, so a resumed run is close to, not identical with, an uninterrupted one.
    bool first = from == 0;
    double startRate = first ? arguments.LearningRate : schedule.At(from + 1);
    var options = new LanguageModelOptions
    {
        TokenColumnName = "Tokens",
        PromptColumnName = "Text",
        Model = weights == null ? BibleModel.Config(arguments.Quick) : null,
        InitialModel = weights,
        ContextLength = arguments.ContextLength,
        BatchSize = arguments.BatchSize,
        MaxSteps = to - from,
        LearningRate = startRate,
        WarmupSteps = first ? Math.Min(arguments.WarmupSteps, to) : 0,
        MinLearningRateRatio = Math.Min(1, schedule.At(to) / startRate),
        ValidationFraction = 0,
        Seed = 1 + from, // new batches each round; the weights' seed matters only for the first round
        LogEverySteps = Math.Min(arguments.LogEvery, to - from),
        Progress = new ConsoleProgressBar(from, state.TotalSteps),
        Generation = new GenerationOptions { MaxNewTokens = 120, Temperature = 0.7, TopK = 20, Seed = 7 },
    };
    model = ml.MoE().Trainers.LanguageModel(options).Fit(trainTokens);
    weights = model.Model;
    Console.WriteLine();

    var metrics = ml.MoE().Evaluate(model.Transform(validationTokens), textColumnName: "Text");
    state.StepsDone = to;
    state.Reports.AddRange(model.TrainingSummary!.History.Select(h => ProgressPoint.From(h, from)));
    state.Validation.Add(new ValidationPoint(to, metrics.CrossEntropy, metrics.BitsPerByte));
    store.Save(ml, model, tokenize, train.Schema, state);
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
        "Step {0}/{1}: validation cross-entropy {2:F4} nats/token (perplexity {3:F3}, {4:F3} bits/byte); checkpoint saved.",
        to, state.TotalSteps, metrics.CrossEntropy, metrics.Perplexity, metrics.BitsPerByte));
}

model ??= store.LoadModel(ml, state.StepsDone);
var final = tokenize.Append(model);
string modelPath = Path.Combine(arguments.OutputDirectory, "model.zip");
ml.MoE().SaveModel(final, train.Schema, modelPath);
Console.WriteLine($"Saved {modelPath}");

string lossChart = Path.Combine(arguments.OutputDirectory, "loss.png");
string loadChart = Path.Combine(arguments.OutputDirectory, "expert-load.png");
Charts.WriteLossCurve(state, lossChart);
Charts.WriteExpertLoadHeatmap(state, loadChart);
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
