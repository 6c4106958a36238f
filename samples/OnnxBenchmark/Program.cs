// Trains one small MoE language model with MLNet.MoE's trainer on KJV verses, exports it to ONNX in float32, float16,
// int8 and int4, and measures on the same held-out verses and prompts, on CPU:
//   - scoring throughput (tokens/s through each transformer's Score column) and validation perplexity,
//   - greedy generation throughput (new tokens/s, KV cache on both sides).
// Prints one JSON object.
//   dotnet run --project samples/OnnxBenchmark -c Release -- [--quick] [--steps N] [--corpus path/to/kjv.txt]
//       [--size tiny|medium] [--only float32,int4,...]
//   --size medium: a 55M-parameter model (hidden 512, 8 blocks, 16 routed experts top-2) whose weights do not fit in
//   the CPU caches, where quantized weights can pay off; 100 validation verses.
//   --quick (or MLNET_MOE_SAMPLE_QUICK=1): fewer steps, verses and a shorter context, for CI.
using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE;

bool quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
int steps = ArgValue("--steps") is { } s ? int.Parse(s) : (quick ? 10 : 60);
string corpus = ArgValue("--corpus") ?? Path.Combine(AppContext.BaseDirectory, "Data", "kjv-pentateuch.txt");   // data/kjv-pentateuch.txt, copied beside the program
int contextLength = quick ? 64 : 128;

var ml = new MLContext(seed: 1);
var verses = File.ReadLines(corpus).Where(l => l.Length > 0).Select(l => new TextRow { Text = l }).ToList();
string size = ArgValue("--size") ?? "tiny";
int validationVerses = quick ? 20 : size == "medium" ? 100 : 300;
if (verses.Count < validationVerses + 100)
    throw new ArgumentException($"The corpus '{corpus}' has {verses.Count} non-empty lines: at least {validationVerses + 100} are needed ({validationVerses} held out for validation).");
// The last verses are held out; training takes the verses before them (at most 500 in quick mode, 20,000 otherwise).
var validation = ml.Data.LoadFromEnumerable(verses.Skip(verses.Count - validationVerses).ToList());
var train = ml.Data.LoadFromEnumerable(verses.Take(Math.Min(verses.Count - validationVerses, quick ? 500 : 20000)).ToList());
var config = size switch
{
    // The Tiny preset: H 128, 4 blocks (1 dense), 8 routed experts (top 2) + 1 shared, byte-level vocabulary.
    "tiny" => new MoeModelConfig(),
    "medium" => new MoeModelConfig
    {
        HiddenSize = 512, IntermediateSize = 1536, MoeIntermediateSize = 256, NumHiddenLayers = 8, NumAttentionHeads = 8,
        NumKeyValueHeads = 8, NRoutedExperts = 16, NumExpertsPerTok = 2, KvLoraRank = 128, QLoraRank = 256,
        QkRopeHeadDim = 32, QkNopeHeadDim = 64, VHeadDim = 64,
    },
    _ => throw new ArgumentException($"--size must be tiny or medium, not '{size}'."),
};
var options = new LanguageModelOptions
{
    Model = config, TokenColumnName = "Tokens", ContextLength = contextLength, BatchSize = 8, MaxSteps = steps,
    WarmupSteps = Math.Max(1, steps / 10), ValidationFraction = 0, Seed = 1,
};
var tokenizer = MoeTokenizer.ByteLevel();
var clock = Stopwatch.StartNew();
var trained = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Append(ml.MoE().Trainers.LanguageModel(options)).Fit(train);
double trainSeconds = clock.Elapsed.TotalSeconds;
Console.Error.WriteLine($"trained {steps} steps in {trainSeconds:F0} s");
var tokenize = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Fit(train);
var torchModel = trained.LastTransformer;
var tokens = tokenize.Transform(validation);

string[] prompts = { "And God said", "In the beginning", "And the LORD spake unto Moses, saying,", "Blessed are" };
var generation = new GenerationOptions { MaxNewTokens = quick ? 16 : 64, StopAtEndOfText = false };
var results = new List<object> { Measure("torchsharp-float32", torchModel, torchModel.Generate) };
string root = Path.Combine(Path.GetTempPath(), "mlnet-moe-onnx-bench-" + Guid.NewGuid().ToString("N"));
string? only = ArgValue("--only");
foreach (var (name, export) in new (string, OnnxExportOptions)[]
{
    ("onnx-float32", new OnnxExportOptions()),
    ("onnx-float16", new OnnxExportOptions { Weights = OnnxWeightType.Float16 }),
    ("onnx-int8", new OnnxExportOptions { Weights = OnnxWeightType.Int8 }),
    ("onnx-int4", new OnnxExportOptions { Weights = OnnxWeightType.Int4 }),
    ("onnx-int4-accuracy4", new OnnxExportOptions { Weights = OnnxWeightType.Int4, QuantizedAccuracyLevel = 4 }),
})
{
    if (only != null && !only.Split(',').Any(o => name.EndsWith(o, StringComparison.Ordinal))) continue;
    string folder = Path.Combine(root, name);
    Console.Error.WriteLine($"exporting {name}");
    ml.MoE().ExportOnnx(torchModel, folder, export);
    using var onnx = ml.MoeOnnx().LoadLanguageModel(folder, contextLength: contextLength);
    results.Add(Measure(name, onnx, onnx.Generate, new FileInfo(Path.Combine(folder, "model.onnx")).Length));
}
Directory.Delete(root, recursive: true);

Console.WriteLine(JsonSerializer.Serialize(new
{
    machine = new { Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription },
    model = new { size, parameters = config.ParameterCount(), config.HiddenSize, config.NumHiddenLayers, config.NRoutedExperts, config.NumExpertsPerTok, config.VocabSize, contextLength, trainSteps = steps, trainSeconds },
    validation = new { verses = validationVerses, prompts = prompts.Length, newTokensPerPrompt = generation.MaxNewTokens },
    results,
}, new JsonSerializerOptions { WriteIndented = true }));
return 0;

object Measure(string name, ITransformer scorer, Func<string, GenerationOptions?, string> generate, long? onnxBytes = null)
{
    Console.Error.WriteLine($"measuring {name}");
    // Warm-up: one row and one short generation.
    Score(scorer, ml.Data.TakeRows(tokens, 1));
    generate(prompts[0], generation with { MaxNewTokens = 2 });
    Console.Error.WriteLine("  scoring");
    var watch = Stopwatch.StartNew();
    var (nats, count) = Score(scorer, tokens);
    double scoreSeconds = watch.Elapsed.TotalSeconds;
    Console.Error.WriteLine("  generating");
    watch.Restart();
    var texts = prompts.Select(p => generate(p, generation)).ToList();
    double generateSeconds = watch.Elapsed.TotalSeconds;
    return new
    {
        name,
        perplexity = Math.Exp(nats / count),
        scoredTokens = count,
        scoringTokensPerSecond = count / scoreSeconds,
        generatedTokens = prompts.Length * generation.MaxNewTokens,
        generationTokensPerSecond = prompts.Length * generation.MaxNewTokens / generateSeconds,
        firstGeneration = texts[0],
        onnxBytes,
    };
}

(double Nats, double Tokens) Score(ITransformer scorer, IDataView data)
{
    double nats = 0, count = 0;
    foreach (var row in ml.Data.CreateEnumerable<ScoreRow>(scorer.Transform(data), reuseRowObject: true))
    {
        if (row.TokenCount <= 0) continue;
        nats += (double)row.Score * row.TokenCount;
        count += row.TokenCount;
    }
    return (nats, count);
}

string? ArgValue(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

/// <summary>An input row.</summary>
internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

/// <summary>The score columns both transformers add.</summary>
internal sealed class ScoreRow
{
    public float Score { get; set; }

    public float TokenCount { get; set; }
}
