// Consumer of the MLNet.MoE package: trains a few steps, saves model.zip, reloads it in a fresh MLContext and prints
// what both models compute, one "key=value" a line, for the packaging test to compare.
//   ConsumerApp <corpus.txt> <output folder>
using System.Globalization;
using Microsoft.ML;
using MLNet.MoE.Catalog;
using MLNet.MoE.Modeling;
using MLNet.MoE.Runtime;
using MLNet.MoE.Tokenization;

string corpus = args[0];
string output = args[1];
Console.WriteLine("libtorch=" + TorchNative.EnsureLoaded());

var ml = new MLContext(seed: 1);
var rows = File.ReadLines(corpus).Where(l => l.Length > 0).Take(64).Select(l => new TextRow { Text = l }).ToList();
IDataView data = ml.Data.LoadFromEnumerable(rows);
var options = new LanguageModelOptions
{
    PromptColumnName = "Text",
    Model = new MoeModelConfig
    {
        HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
        NumKeyValueHeads = 2, KvLoraRank = 16, QLoraRank = 16, QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8,
        NRoutedExperts = 4, NumExpertsPerTok = 2, NGroup = 2, TopkGroup = 2, MaxPositionEmbeddings = 64,
    },
    ContextLength = 32,
    BatchSize = 4,
    MaxSteps = 3,
    WarmupSteps = 1,
    LogEverySteps = 1,
    ValidationFraction = 0,
    Generation = new GenerationOptions { MaxNewTokens = 10 },
};
var model = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", MoeTokenizer.ByteLevel())
    .Append(ml.MoE().Trainers.LanguageModel(options))
    .Fit(data);
Console.WriteLine("steps=" + model.LastTransformer.TrainingSummary!.Steps.ToString(CultureInfo.InvariantCulture));

string path = Path.Combine(output, "model.zip");
ml.MoE().SaveModel(model, data.Schema, path);
var prompt = new TextRow { Text = "In the beginning" };
Completion trained = ml.Model.CreatePredictionEngine<TextRow, Completion>(model).Predict(prompt);

var fresh = new MLContext(seed: 1);
ITransformer loaded = fresh.Model.Load(path, out _);
Completion reloaded = fresh.Model.CreatePredictionEngine<TextRow, Completion>(loaded).Predict(prompt);

Console.WriteLine("trained.score=" + trained.Score.ToString("R", CultureInfo.InvariantCulture));
Console.WriteLine("reloaded.score=" + reloaded.Score.ToString("R", CultureInfo.InvariantCulture));
Console.WriteLine("trained.generated=" + Escape(trained.GeneratedText));
Console.WriteLine("reloaded.generated=" + Escape(reloaded.GeneratedText));
return 0;

static string Escape(string text) => text.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\r", "\\r");

/// <summary>One line of text.</summary>
internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

/// <summary>What the model adds to a row.</summary>
internal sealed class Completion
{
    public float Score { get; set; }

    public string GeneratedText { get; set; } = "";
}
