// The sentiment model's console app, as Model Builder's: it trains SentimentModel.mlnet from SentimentModel.mbconfig
// (the Amazon review sentences shipped in the repository), prints the held-out metrics beside ML.NET's baseline on the same rows, then predicts through the
// model's static API.
//
//   dotnet run --project samples/ModelBuilder/SentimentModel.ConsoleApp -c Release [-- --out DIR]
//   --quick (or MLNET_MOE_SAMPLE_QUICK=1): the .mbconfig's QuickTrainingOption (fewer rows and epochs), for CI.
using MLNet.MoE.Samples.ModelBuilder;

bool quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
int outIndex = Array.IndexOf(args, "--out");
string outDirectory = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : AppContext.BaseDirectory;

SentimentModel.MLNetModelPath = Path.Combine(outDirectory, "SentimentModel.mlnet");
Console.WriteLine($"Training {SentimentModel.MLNetModelPath} as {SentimentModel.MBConfigPath} says{(quick ? " (quick run)" : "")}...");
var result = SentimentModel.Train(SentimentModel.MLNetModelPath, quick: quick);
Console.WriteLine("Held-out metrics (the same rows for both):");
Console.WriteLine(SentimentModel.FormatMetrics(result));

foreach (string sentence in new[] { "Great phone, works perfectly.", "The battery died after two days, very disappointed." })
{
    var input = new SentimentModel.ModelInput { Text = sentence };
    SentimentModel.ModelOutput output = SentimentModel.Predict(input);
    string scores = string.Join(", ", SentimentModel.PredictAllLabels(input).Select(pair => $"{pair.Key}: {pair.Value:F3}"));
    Console.WriteLine($"\"{sentence}\" → {output.PredictedLabel} ({scores})");
}
