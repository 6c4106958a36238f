// MLNet.MoE sample: import a Hugging Face DeepseekV3 checkpoint folder (config.json + *.safetensors) into an ML.NET
// pipeline, score text with it, generate, save it as model.zip, reload the zip and check it generates the same text.
//
//   dotnet run --project samples/HuggingFaceImport -c Release [-- --checkpoint DIR --tokenizer tokenizer.json --reference expected.json --out DIR]
//   Default checkpoint: the repository's data/deepseek-v3-tiny-a, a tiny random model written by Hugging Face transformers
//   whose 128-token vocabulary no MoeTokenizer fits: the sample then shows the text pipeline on a same-shaped checkpoint
//   with room for the byte-level tokenizer, made here by one training step and exported with SaveHuggingFace, and checks
//   the imported model's logits against the exporting model's. (The tests and `Benchmarks parity` check tiny-a's logits
//   and greedy output against the ones transformers recorded.)
//   --reference: logits another implementation computed for the checkpoint (JSON: "input_ids" [rows][tokens] and
//   "logits" flattened row-major, as transformers' model(input_ids).logits), compared within 1e-4.
//   The sample exits 1 when a comparison fails. --quick (or MLNET_MOE_SAMPLE_QUICK=1) generates fewer tokens.
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE;

string checkpoint = Path.Combine(AppContext.BaseDirectory, "Data", "deepseek-v3-tiny-a");   // data/deepseek-v3-tiny-a, copied beside the program
string? tokenizerPath = null, referencePath = null;
string output = "artifacts/hf-import";
bool quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--checkpoint": checkpoint = Next(); break;
        case "--tokenizer": tokenizerPath = Next(); break;
        case "--reference": referencePath = Next(); break;
        case "--out": output = Next(); break;
        case "--quick": break;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Options: --checkpoint DIR, --tokenizer tokenizer.json, --reference expected.json, --out DIR, --quick.");
            return 2;
    }
}
string configPath = Path.Combine(checkpoint, "config.json");
if (!File.Exists(configPath))
{
    Console.Error.WriteLine($"'{checkpoint}' is not a Hugging Face checkpoint folder: it has no config.json.");
    return 2;
}
Directory.CreateDirectory(output);

// The tokenizer: --tokenizer, else the checkpoint's own tokenizer.json, else the file-free byte-level tokenizer when the
// model's vocabulary has room for its 257 ids.
var config = MoeModelConfig.Load(configPath);
string inFolder = Path.Combine(checkpoint, "tokenizer.json");
MoeTokenizer? tokenizer =
    tokenizerPath != null ? MoeTokenizer.FromHuggingFaceJson(tokenizerPath)
    : File.Exists(inFolder) ? MoeTokenizer.FromHuggingFaceJson(inFolder)
    : config.VocabSize >= MoeTokenizer.ByteLevel().VocabularySize ? MoeTokenizer.ByteLevel()
    : null;
Console.WriteLine($"Checkpoint {checkpoint}: {config.NumHiddenLayers} layers, {config.NRoutedExperts} routed experts, vocab_size {config.VocabSize}, {config.ParameterCount() / 1e6:N2}M parameters.");
if (tokenizer != null)
{
    return ImportScoreGenerateSave(checkpoint, tokenizer, output, quick,
        referencePath == null ? null : imported => ReferenceLogits.Compare(imported, referencePath, tolerance: 1e-4)) ? 0 : 1;
}
if (referencePath != null)
{
    Console.Error.WriteLine($"--reference needs a tokenizer that fits vocab_size {config.VocabSize} (pass one with --tokenizer).");
    return 2;
}

// No tokenizer fits: every tokenizer MoeTokenizer builds has at least 257 ids (all 256 bytes + end-of-text), more
// than this vocabulary. The text pipeline is shown on a checkpoint of the same architecture with room for the byte-level
// tokenizer: one training step from random weights, written in the Hugging Face format, then imported like any other.
Console.WriteLine($"No tokenizer fits vocab_size {config.VocabSize}: the byte-level tokenizer needs 257 ids, and the checkpoint has no tokenizer.json (pass one with --tokenizer).");
string widened = Path.Combine(output, "checkpoint-vocab-257");
var ml = new MLContext(seed: 1);
var byteLevel = MoeTokenizer.ByteLevel();
IDataView verses = ml.Data.LoadFromEnumerable(SampleTexts.Select(t => new TextRow { Text = t }).ToList());
var oneStep = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", byteLevel)
    .Append(ml.MoE().Trainers.LanguageModel(new LanguageModelOptions
    {
        Model = config with { VocabSize = byteLevel.VocabularySize },
        MaxSteps = 1,
        ContextLength = 32,
        BatchSize = 2,
        ValidationFraction = 0,
        Device = ComputeDevice.Cpu,
    }))
    .Fit(verses);
var exporting = oneStep.LastTransformer;
ml.MoE().SaveHuggingFace(exporting, widened);
Console.WriteLine($"Wrote {widened}: the same architecture with vocab_size {byteLevel.VocabularySize}, to show the text pipeline.");
// The reference here is the model that wrote the checkpoint: the import must reproduce its logits (float32 both ways).
bool passed = ImportScoreGenerateSave(widened, byteLevel, output, quick,
    imported => ReferenceLogits.Compare(imported, exporting, SampleTexts.Select(byteLevel.Encode), tolerance: 1e-5));
exporting.Dispose();
return passed ? 0 : 1;

// Imports the checkpoint into an ML.NET pipeline, compares its logits with a reference (when given), scores a few
// texts, generates, saves model.zip, reloads it and checks the reloaded model generates the same text. False when a
// check failed.
static bool ImportScoreGenerateSave(string checkpoint, MoeTokenizer tokenizer, string output, bool quick, Func<LanguageModelTransformer, bool>? compare)
{
    Console.WriteLine($"Importing {checkpoint} with tokenizer {tokenizer}.");
    var ml = new MLContext(seed: 1);
    var imported = ml.MoE().LoadHuggingFace(checkpoint, tokenizer, promptColumnName: "Text",
        generation: new GenerationOptions { MaxNewTokens = quick ? 8 : 24 });
    bool matchesReference = compare?.Invoke(imported) ?? true;

    // Score: tokenize, then the imported model, as one ML.NET pipeline.
    IDataView data = ml.Data.LoadFromEnumerable(SampleTexts.Select(t => new TextRow { Text = t }).ToList());
    var tokenize = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Fit(data);
    var model = new TransformerChain<ITransformer>(tokenize, imported);
    var metrics = ml.MoE().Evaluate(model.Transform(data), textColumnName: "Text");
    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "Scored {0} texts ({1} tokens): cross-entropy {2:F4} nats/token, perplexity {3:F2}, {4:F3} bits/byte.",
        metrics.RowCount, metrics.TokenCount, metrics.CrossEntropy, metrics.Perplexity, metrics.BitsPerByte));

    // Generate (greedy by default: the same text every time).
    string prompt = "In the beginning";
    var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(model);
    string generated = engine.Predict(new TextRow { Text = prompt }).GeneratedText;
    Console.WriteLine($"Prompt:    {prompt}");
    Console.WriteLine($"Generated: {Printable(generated)}");

    // Save as an ordinary ML.NET model.zip and load it back in a fresh context.
    string zip = Path.Combine(output, "model.zip");
    ml.MoE().SaveModel(model, data.Schema, zip);
    var fresh = new MLContext(seed: 1);
    string again = fresh.Model.CreatePredictionEngine<TextRow, Completion>(fresh.Model.Load(zip, out _)).Predict(new TextRow { Text = prompt }).GeneratedText;
    Console.WriteLine($"Saved {zip} ({new FileInfo(zip).Length / 1024.0:N0} KiB); the reloaded model generates the same text: {again == generated}");
    if (again != generated) Console.Error.WriteLine("check failed: the reloaded model.zip generates other text than the model that was saved.");
    return matchesReference && again == generated;
}

// A random model generates arbitrary bytes: show control characters as escapes.
static string Printable(string text) => string.Concat(text.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));

/// <summary>The texts the sample scores.</summary>
internal partial class Program
{
    public static readonly string[] SampleTexts =
    {
        "In the beginning God created the heaven and the earth.",
        "And God said, Let there be light: and there was light.",
        "The quick brown fox jumps over the lazy dog.",
    };
}

/// <summary>One text.</summary>
internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

/// <summary>What the model adds.</summary>
internal sealed class Completion
{
    public string GeneratedText { get; set; } = "";
}
