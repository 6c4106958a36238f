// Scores text and generates with an exported MLNet.MoE model through ONNX Runtime, in an ML.NET pipeline, without
// TorchSharp. Usage:
//   dotnet run --project samples/OnnxScoring -- --model <export folder> [--quick] [--prompt "text"] [--out <folder>]
// The export folder is what mlContext.MoE().ExportOnnx wrote (model.onnx, genai_config.json, mlnet_moe_tokenizer.bin).
// --quick (or MLNET_MOE_SAMPLE_QUICK=1) scores three short texts and generates 8 tokens; the default scores ten and
// generates 32.
// Prints one JSON object: per-row Score/Perplexity/TokenCount/TokenAccuracy, the generated text, and the same after a
// save to model.zip and a reload (the ONNX bytes travel inside the zip); then the metrics of the texts tokenized by
// TokenizeForMoe in a pipeline before the model, as mlContext.MoeOnnx().Evaluate aggregates them.
using System.Text.Json;
using Microsoft.ML;
using MLNet.MoE;

string? modelPath = null;
string? outDirectory = null;
string prompt = "And God said";
bool quick = Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--model": modelPath = args[++i]; break;
        case "--out": outDirectory = args[++i]; break;
        case "--prompt": prompt = args[++i]; break;
        case "--quick": quick = true; break;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: --model <export folder> [--quick] [--prompt text] [--out folder]");
            return 2;
    }
}
if (modelPath == null)
{
    Console.Error.WriteLine("--model <export folder> is required (write one with mlContext.MoE().ExportOnnx).");
    return 2;
}

var ml = new MLContext(seed: 1);
string[] texts =
{
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "And God said, Let there be light: and there was light.",
    "And God saw the light, that it was good: and God divided the light from the darkness.",
    "And God called the light Day, and the darkness he called Night.",
    "And the evening and the morning were the first day.",
    "And God said, Let there be a firmament in the midst of the waters.",
    "And God made the firmament, and divided the waters which were under the firmament.",
    "And God called the firmament Heaven.",
    "And the evening and the morning were the second day.",
};
var rows = texts.Take(quick ? 3 : texts.Length).Select(t => new TextRow { Text = t, Prompt = prompt }).ToList();
var data = ml.Data.LoadFromEnumerable(rows);
var generation = new GenerationOptions { MaxNewTokens = quick ? 8 : 32 };

using var model = ml.MoeOnnx().LoadLanguageModel(modelPath, tokenColumnName: "Text", promptColumnName: "Prompt", generation: generation);
var scored = ml.Data.CreateEnumerable<ScoredRow>(model.Transform(data), reuseRowObject: false).ToList();

string zipFolder = outDirectory ?? Path.Combine(Path.GetTempPath(), "mlnet-moe-onnx-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(zipFolder);
string zip = Path.Combine(zipFolder, "onnx-language-model.zip");
ml.Model.Save(model, data.Schema, zip);
var reloaded = ml.Model.Load(zip, out _);
var rescored = ml.Data.CreateEnumerable<ScoredRow>(reloaded.Transform(data), reuseRowObject: false).ToList();
(reloaded as IDisposable)?.Dispose();

// The pipeline shape of training, without TorchSharp: TokenizeForMoe (MLNet.MoE.Core) makes the token-id column the
// model scores, and MoeOnnx().Evaluate aggregates the scores.
var tokenized = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", model.Tokenizer).Fit(data).Transform(data);
using var tokenModel = ml.MoeOnnx().LoadLanguageModel(modelPath, tokenColumnName: "Tokens");
LanguageModelMetrics metrics = ml.MoeOnnx().Evaluate(tokenModel.Transform(tokenized), textColumnName: "Text");

var result = new
{
    weights = model.WeightType,
    torchSharpLoaded = AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name?.StartsWith("TorchSharp", StringComparison.Ordinal) == true),
    rows = scored.Select(r => new { r.Score, r.Perplexity, r.TokenCount, r.TokenAccuracy }),
    generated = scored[0].GeneratedText,
    reloadedRows = rescored.Select(r => new { r.Score, r.Perplexity, r.TokenCount, r.TokenAccuracy }),
    reloadedGenerated = rescored[0].GeneratedText,
    pipelineMetrics = new { metrics.CrossEntropy, metrics.Perplexity, metrics.BitsPerByte, metrics.NextTokenAccuracy, metrics.TokenCount, metrics.RowCount },
    zip,
};
Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
return 0;

/// <summary>An input row: the text to score and the prompt to continue.</summary>
internal sealed class TextRow
{
    public string Text { get; set; } = "";

    public string Prompt { get; set; } = "";
}

/// <summary>The columns the ONNX language model adds.</summary>
internal sealed class ScoredRow
{
    public float Score { get; set; }

    public float Perplexity { get; set; }

    public float TokenCount { get; set; }

    public float TokenAccuracy { get; set; }

    public string GeneratedText { get; set; } = "";
}
