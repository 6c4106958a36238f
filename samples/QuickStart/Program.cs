// MLNet.MoE quick start: train a small DeepSeek-style Mixture-of-Experts language model on the first five books of
// the King James Bible, evaluate it against a unigram baseline, generate text, save model.zip, reload it and check
// the reloaded model generates the same text.
//
//   dotnet run --project samples/QuickStart -c Release [-- --steps 300 --out artifacts/quickstart]
//   --quick (or MLNET_MOE_SAMPLE_QUICK=1): a few steps on a small slice, for CI.
//   --seed N: the MLContext's seed (weights, batches; default 1); --init NAME: the weight initialization (default the trainer's).
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE;
using MLNet.MoE.Samples.QuickStart;

var arguments = QuickStartArguments.Parse(args);
var clock = Stopwatch.StartNew();
var ml = new MLContext(seed: arguments.Seed);

string corpusPath = Path.Combine(AppContext.BaseDirectory, "Data", "kjv-pentateuch.txt");
var lines = File.ReadLines(corpusPath).Where(l => l.Length > 0).Select(l => new TextRow { Text = l });
if (arguments.Quick) lines = lines.Take(600);
IDataView data = ml.Data.LoadFromEnumerable(lines.ToList());
var split = ml.Data.TrainTestSplit(data, testFraction: 0.05, seed: 1);

var tokenizer = MoeTokenizer.ByteLevel();
var options = new LanguageModelOptions
{
    TokenColumnName = "Tokens",
    PromptColumnName = "Text",
    MaxSteps = arguments.Steps,
    ContextLength = arguments.Quick ? 64 : 128,
    BatchSize = arguments.Quick ? 4 : 16,
    WarmupSteps = Math.Min(30, arguments.Steps / 10),
    ValidationFraction = 0,
    Progress = new ConsoleProgressBar(),
    Generation = new GenerationOptions { MaxNewTokens = 80, Temperature = 0.7, TopK = 20, Seed = 7 },
};
if (arguments.Initialization is { } initialization) options.Initialization = initialization;
var pipeline = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer)
    .Append(ml.MoE().Trainers.LanguageModel(options));

Console.WriteLine($"Training on {corpusPath} (95% of the verses; byte-level tokens) for {arguments.Steps} steps...");
var model = pipeline.Fit(split.TrainSet);
Console.WriteLine();

var metrics = ml.MoE().Evaluate(model.Transform(split.TestSet), textColumnName: "Text");
var trainDocuments = ml.Data.CreateEnumerable<TextRow>(split.TrainSet, reuseRowObject: false).Select(r => (IReadOnlyList<int>)tokenizer.Encode(r.Text));
var testDocuments = ml.Data.CreateEnumerable<TextRow>(split.TestSet, reuseRowObject: false).Select(r => (IReadOnlyList<int>)tokenizer.Encode(r.Text)).ToList();
double unigram = UnigramModel.Fit(trainDocuments, tokenizer.VocabularySize, tokenizer.EndOfTextId).CrossEntropy(testDocuments);
Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
    "Validation ({0} held-out verses, {1:N0} tokens): perplexity {2:F3} (cross-entropy {3:F4} nats/token, {4:F3} bits/byte, next-token accuracy {5:P1})",
    metrics.RowCount, metrics.TokenCount, metrics.Perplexity, metrics.CrossEntropy, metrics.BitsPerByte, metrics.NextTokenAccuracy));
Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "Unigram baseline of the same tokenizer on the same text: perplexity {0:F3}", Math.Exp(unigram)));

string prompt = "And God said unto Moses,";
var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(model);
string generated = engine.Predict(new TextRow { Text = prompt }).GeneratedText;
Console.WriteLine($"Prompt:    {prompt}");
Console.WriteLine($"Generated: {generated}");

Directory.CreateDirectory(arguments.OutputDirectory);
string modelPath = Path.Combine(arguments.OutputDirectory, "model.zip");
ml.MoE().SaveModel(model, split.TrainSet.Schema, modelPath);
Console.WriteLine($"Saved {modelPath} ({new FileInfo(modelPath).Length / 1024.0:N0} KiB)");

var reloadContext = new MLContext(seed: 1);
var reloaded = reloadContext.Model.Load(modelPath, out _);
string again = reloadContext.Model.CreatePredictionEngine<TextRow, Completion>(reloaded).Predict(new TextRow { Text = prompt }).GeneratedText;
Console.WriteLine($"Reloaded:  {again}");
bool same = again == generated;
Console.WriteLine($"Reloaded model generates the same text: {same}");
Console.WriteLine($"Done in {clock.Elapsed.TotalSeconds:F0} s.");
return same && metrics.Perplexity < Math.Exp(unigram) ? 0 : 1;

/// <summary>One line of text.</summary>
internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

/// <summary>What the quick start reads back from the model.</summary>
internal sealed class Completion
{
    public string GeneratedText { get; set; } = "";

    public float Perplexity { get; set; }
}

/// <summary>Command-line options of the quick start.</summary>
internal sealed record QuickStartArguments(int Steps, bool Quick, string OutputDirectory, int Seed, WeightInitialization? Initialization)
{
    public static QuickStartArguments Parse(string[] args)
    {
        bool quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
        int steps = quick ? 20 : 500;
        string output = "artifacts/quickstart";
        int seed = 1;
        WeightInitialization? initialization = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--steps" && i + 1 < args.Length) steps = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--out" && i + 1 < args.Length) output = args[++i];
            else if (args[i] == "--seed" && i + 1 < args.Length) seed = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--init" && i + 1 < args.Length) initialization = Enum.Parse<WeightInitialization>(args[++i], ignoreCase: true);
            else if (args[i] != "--quick") throw new ArgumentException($"Unknown argument '{args[i]}'. Use --steps N, --out DIR, --seed N, --init NAME, --quick.");
        }
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(args), steps, "--steps must be at least 1.");
        return new QuickStartArguments(steps, quick, output, seed, initialization);
    }
}

/// <summary>
/// Draws a progress bar with the loss and speed on one console line, redrawn in place (<c>\r</c>) when standard output
/// is a terminal; when it is redirected (a log file, CI), writes a plain line every few seconds and at the last step instead.
/// </summary>
internal sealed class ConsoleProgressBar : IProgress<LanguageModelProgress>
{
    private readonly bool interactive = !Console.IsOutputRedirected;
    private TimeSpan lastLine = TimeSpan.FromSeconds(-10);

    public void Report(LanguageModelProgress value)
    {
        const int width = 30;
        int filled = (int)Math.Round(width * (double)value.Step / value.TotalSteps);
        string bar = new string('#', filled) + new string('-', width - filled);
        string line = string.Format(CultureInfo.InvariantCulture, "[{0}] step {1}/{2}  loss {3:F3}  {4:N0} tok/s  {5:F0}s", bar, value.Step, value.TotalSteps, value.Loss, value.TokensPerSecond, value.Elapsed.TotalSeconds);
        if (value.ValidationLoss is double v) line += string.Format(CultureInfo.InvariantCulture, "  val {0:F3}", v);
        if (interactive)
        {
            Console.Write("\r" + line);
        }
        else if (value.Step == value.TotalSteps || value.Elapsed - lastLine >= TimeSpan.FromSeconds(5))
        {
            lastLine = value.Elapsed;
            Console.WriteLine(line);
        }
    }
}
