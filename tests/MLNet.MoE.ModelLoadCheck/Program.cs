// Usage: MLNet.MoE.ModelLoadCheck <model.zip> <texts.txt>
// Loads the model with a fresh MLContext and prints one JSON line per text: the text's Score and Perplexity and the
// GeneratedText continuing it. Exit code 2 and the error on stderr when the model cannot be loaded.
using System.Text.Json;
using Microsoft.ML;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: MLNet.MoE.ModelLoadCheck <model.zip> <texts.txt>");
    return 2;
}
var ml = new MLContext(seed: 1);
ITransformer model;
try
{
    model = ml.Model.Load(args[0], out _);
}
catch (Exception e)
{
    Console.Error.WriteLine(e.GetBaseException().Message);
    return 2;
}
var engine = ml.Model.CreatePredictionEngine<TextRow, ScoredRow>(model);
foreach (string line in File.ReadLines(args[1]))
{
    var scored = engine.Predict(new TextRow { Text = line });
    Console.WriteLine(JsonSerializer.Serialize(new { scored.Score, scored.Perplexity, scored.GeneratedText }));
}
return 0;

internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

internal sealed class ScoredRow
{
    public float Score { get; set; }

    public float Perplexity { get; set; }

    public string GeneratedText { get; set; } = "";
}
