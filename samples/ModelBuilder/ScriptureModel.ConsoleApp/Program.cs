// The scripture model's console app, as Model Builder's: it trains ScriptureModel.mlnet from ScriptureModel.mbconfig
// (the first five books of the King James Bible, shipped in the repository), prints the held-out metrics, then
// continues and scores prompts through the model's static API.
//
//   dotnet run --project samples/ModelBuilder/ScriptureModel.ConsoleApp -c Release [-- --out DIR]
//   --quick (or MLNET_MOE_SAMPLE_QUICK=1): the .mbconfig's QuickTrainingOption (fewer rows and steps), for CI.
using MLNet.MoE.Samples.ModelBuilder;

bool quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
int outIndex = Array.IndexOf(args, "--out");
string outDirectory = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : AppContext.BaseDirectory;

ScriptureModel.MLNetModelPath = Path.Combine(outDirectory, "ScriptureModel.mlnet");
Console.WriteLine($"Training {ScriptureModel.MLNetModelPath} as {ScriptureModel.MBConfigPath} says{(quick ? " (quick run)" : "")}...");
var metrics = ScriptureModel.Train(ScriptureModel.MLNetModelPath, quick: quick);
Console.WriteLine("Held-out metrics:");
Console.WriteLine(ScriptureModel.FormatMetrics(metrics));

foreach (string prompt in new[] { "In the beginning", "And Moses said unto the LORD," })
{
    ScriptureModel.ModelOutput output = ScriptureModel.Predict(new ScriptureModel.ModelInput { Text = prompt });
    Console.WriteLine($"\"{prompt}\" (perplexity {output.Perplexity:F2}, score {output.Score:F3} nats/token) → \"{output.GeneratedText}\"");
}
