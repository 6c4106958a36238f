// MLNet.MoE sample: move a model out to distributed PyTorch training and back into ML.NET.
//
//   1. export: train a small MoE language model with MLNet.MoE, write it as a Hugging Face DeepseekV3 checkpoint
//      (with its tokenizer) and write the tokenized corpus as a token file (train.bin/validation.bin + tokens.json).
//        dotnet run --project samples/ScaleOut -c Release -- export --out artifacts/scaleout
//   2. continue training with PyTorch FSDP or DDP through Hugging Face Accelerate (train.py, next to this file):
//        accelerate launch --num_processes 2 samples/ScaleOut/train.py --checkpoint artifacts/scaleout/checkpoint \
//          --tokens artifacts/scaleout/tokens --output artifacts/scaleout/trained --strategy fsdp
//   3. import: load the trained checkpoint into an ML.NET pipeline, score the held-out text, and compare the logits with
//      the ones PyTorch wrote (reference_logits.json) and the validation loss with PyTorch's.
//        dotnet run --project samples/ScaleOut -c Release -- import --checkpoint artifacts/scaleout/trained --tokens artifacts/scaleout/tokens
//
// --quick (or MLNET_MOE_SAMPLE_QUICK=1): export trains a few steps on a slice of the corpus, for CI.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNet.MoE;

var arguments = ScaleOutArguments.Parse(args);
return arguments.Command switch
{
    "export" => Export(arguments),
    "import" => Import(arguments),
    _ => throw new InvalidOperationException("unreachable"),
};

static int Export(ScaleOutArguments arguments)
{
    var ml = new MLContext(seed: 1);
    var lines = File.ReadLines(arguments.Corpus).Where(l => l.Length > 0).Select(l => new TextRow { Text = l });
    if (arguments.Quick) lines = lines.Take(400);
    IDataView data = ml.Data.LoadFromEnumerable(lines.ToList());
    var tokenizer = MoeTokenizer.ByteLevel();
    var tokenize = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Fit(data);
    IDataView tokens = tokenize.Transform(data);

    // The trainer and the token export hold out the same 5% of the verses (same fraction, same seed), so the
    // validation loss measured here, in PyTorch and after the import all score the same text.
    var options = new LanguageModelOptions
    {
        Model = MoeModelConfig.Tiny,
        MaxSteps = arguments.Steps,
        ContextLength = arguments.ContextLength,
        BatchSize = arguments.Quick ? 4 : 16,
        WarmupSteps = Math.Min(30, arguments.Steps / 10),
        ValidationFraction = 0.05,
        Seed = 1,
    };
    Console.WriteLine($"Training {arguments.Steps} steps on {arguments.Corpus} with MLNet.MoE...");
    var model = ml.MoE().Trainers.LanguageModel(options).Fit(tokens);
    string checkpoint = Path.Combine(arguments.OutputDirectory, "checkpoint");
    string tokenFolder = Path.Combine(arguments.OutputDirectory, "tokens");
    ml.MoE().SaveHuggingFace(model, checkpoint);
    var info = ml.MoE().ExportTokens(tokens, tokenFolder, new TokenExportOptions { ValidationFraction = 0.05, Seed = 1 });
    var (_, validation) = ml.MoE().ReadTokens(tokenFolder, validation: true);
    // The validation stream starts with end-of-text, which ScoreTokens puts first by itself; it scores in consecutive
    // windows of the context length, as train.py does.
    var validationScore = model.ScoreTokens(validation[1..]);
    double loss = validationScore.MeanCrossEntropy;
    long predicted = validationScore.Tokens;
    var summary = new JsonObject
    {
        ["stage"] = "export",
        ["checkpoint"] = checkpoint,
        ["tokens"] = tokenFolder,
        ["parameters"] = model.Config.ParameterCount(),
        ["train_tokens"] = info.Train.Tokens,
        ["validation_tokens"] = info.Validation.Tokens,
        ["validation_loss"] = Math.Round(loss, 5),
        ["validation_predicted_tokens"] = predicted,
        ["context_length"] = arguments.ContextLength,
    };
    Console.WriteLine(summary.ToJsonString());
    AtomicFileText(Path.Combine(arguments.OutputDirectory, "export.json"), summary);
    return 0;
}

static int Import(ScaleOutArguments arguments)
{
    var ml = new MLContext(seed: 1);
    string checkpoint = arguments.Checkpoint ?? throw new ArgumentException("import needs --checkpoint DIR.");
    string tokenFolder = arguments.Tokens ?? throw new ArgumentException("import needs --tokens DIR.");
    // The checkpoint carries its tokenizer (mlnet_moe_tokenizer.bin), copied through the PyTorch run by train.py.
    var model = ml.MoE().LoadHuggingFace(checkpoint, promptColumnName: "Text", contextLength: arguments.ContextLength, device: ComputeDevice.Cpu);
    var (info, validation) = ml.MoE().ReadTokens(tokenFolder, validation: true);

    // 1. The imported model in an ML.NET pipeline: tokenize the held-out verses and score them.
    var verses = SplitDocuments(validation, info.EndOfTextId).Select(d => new TextRow { Text = model.Tokenizer.Decode(d) }).ToList();
    IDataView heldOut = ml.Data.LoadFromEnumerable(verses);
    var pipeline = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", model.Tokenizer).Fit(heldOut).Append(model);
    var metrics = ml.MoE().Evaluate(pipeline.Transform(heldOut), textColumnName: "Text");

    // 2. The validation stream scored exactly as train.py scores it (consecutive windows of the context length).
    double streamLoss = model.ScoreTokens(validation[1..]).MeanCrossEntropy;
    var summary = new JsonObject
    {
        ["stage"] = "import",
        ["checkpoint"] = checkpoint,
        ["heldout_verses"] = metrics.RowCount,
        ["heldout_perplexity"] = Math.Round(metrics.Perplexity, 4),
        ["validation_loss"] = Math.Round(streamLoss, 5),
    };

    // 3. Logits against the ones PyTorch computed from the same checkpoint.
    bool ok = true;
    string referencePath = arguments.Reference ?? Path.Combine(checkpoint, "reference_logits.json");
    if (File.Exists(referencePath))
    {
        var reference = JsonNode.Parse(File.ReadAllText(referencePath))!.AsObject();
        var comparison = CompareLogits(model, reference);
        summary["reference"] = referencePath;
        summary["max_abs_logit_difference"] = comparison.MaxDifference;
        summary["pytorch_validation_loss"] = reference["validation_loss_after"]?.GetValue<double>();
        summary["pytorch_validation_loss_before"] = reference["validation_loss_before"]?.GetValue<double>();
        ok = comparison.MaxDifference <= 1e-3;
    }
    else
    {
        summary["reference"] = null;
    }
    Console.WriteLine(summary.ToJsonString());
    Console.WriteLine(summary["reference"] is null ? "No reference_logits.json: scored without a comparison with PyTorch."
        : ok ? "The imported model's logits match PyTorch's within 1e-3." : "The imported model's logits differ from PyTorch's by more than 1e-3.");
    return ok ? 0 : 1;
}

static (double MaxDifference, long Count) CompareLogits(LanguageModelTransformer model, JsonObject reference)
{
    var rows = reference["input_ids"]!.AsArray().Select(r => r!.AsArray().Select(v => v!.GetValue<int>()).ToArray()).ToArray();
    var logits = rows.SelectMany(model.Logits).ToArray();
    var expected = reference["logits"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray();
    if (expected.Length != logits.Length)
        throw new InvalidDataException($"reference_logits.json holds {expected.Length} logits; the model produced {logits.Length} for its input_ids.");
    double max = 0;
    for (int i = 0; i < logits.Length; i++) max = Math.Max(max, Math.Abs(logits[i] - expected[i]));
    return (max, expected.Length);
}

static IEnumerable<int[]> SplitDocuments(int[] stream, int endOfText)
{
    var current = new List<int>();
    foreach (int id in stream)
    {
        if (id == endOfText)
        {
            if (current.Count > 0) yield return current.ToArray();
            current.Clear();
        }
        else
        {
            current.Add(id);
        }
    }
    if (current.Count > 0) yield return current.ToArray();
}

// Written to a temporary file first and renamed, so a reader never sees half a summary.
static void AtomicFileText(string path, JsonObject json)
{
    string temporary = path + ".tmp";
    File.WriteAllText(temporary, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    File.Move(temporary, path, overwrite: true);
}

/// <summary>One line of text.</summary>
internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

/// <summary>Command-line options of the scale-out sample.</summary>
internal sealed record ScaleOutArguments(string Command, bool Quick, int Steps, int ContextLength, string Corpus, string OutputDirectory,
    string? Checkpoint, string? Tokens, string? Reference)
{
    public const string Usage = "Usage: export [--out DIR] [--steps N] [--corpus FILE] [--quick] | import --checkpoint DIR --tokens DIR [--reference FILE]; both take --context N (default 128).";

    public static ScaleOutArguments Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("export" or "import")) throw new ArgumentException(Usage);
        bool quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
        int steps = quick ? 10 : 300;
        int context = 128;
        string corpus = Path.Combine(AppContext.BaseDirectory, "Data", "kjv-pentateuch.txt");
        string output = "artifacts/scaleout";
        string? checkpoint = null, tokens = null, reference = null;
        for (int i = 1; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value. {Usage}");
            switch (args[i])
            {
                case "--quick": break;
                case "--steps": steps = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--context": context = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--corpus": corpus = Next(); break;
                case "--out": output = Next(); break;
                case "--checkpoint": checkpoint = Next(); break;
                case "--tokens": tokens = Next(); break;
                case "--reference": reference = Next(); break;
                default: throw new ArgumentException($"Unknown argument '{args[i]}'. {Usage}");
            }
        }
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(args), steps, "--steps must be at least 1.");
        if (context < 2) throw new ArgumentOutOfRangeException(nameof(args), context, "--context must be at least 2.");
        if (!File.Exists(corpus)) throw new FileNotFoundException($"--corpus: '{corpus}' does not exist.", corpus);
        return new ScaleOutArguments(args[0], quick, steps, context, corpus, output, checkpoint, tokens, reference);
    }
}
