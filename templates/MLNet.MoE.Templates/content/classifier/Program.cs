// Trains MoeClassifierModel.mlnet as MoeClassifierModel.mbconfig says and predicts with it.
//
//   dotnet run -- train [--data FILE] [--quick]    trains (on the .mbconfig's data file unless --data is given),
//                                                  prints the held-out metrics beside ML.NET's baseline, saves the model
//   dotnet run -- predict "some text"              prints the predicted label and every label's score
//   --model FILE: the model file (default MoeClassifierModel.mlnet beside the program).
namespace MoeModelNamespace;

/// <summary>The command line.</summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        string? modelPath = Argument(args, "--model");
        if (modelPath != null) MoeClassifierModel.MLNetModelPath = modelPath;
        try
        {
            switch (args.FirstOrDefault())
            {
                case "train":
                    bool quick = args.Contains("--quick");
                    Console.WriteLine($"Training {MoeClassifierModel.MLNetModelPath} as {MoeClassifierModel.MBConfigPath} says{(quick ? " (quick run)" : "")}...");
                    var result = MoeClassifierModel.Train(MoeClassifierModel.MLNetModelPath, Argument(args, "--data"), quick);
                    Console.WriteLine("Held-out metrics (the same rows for both):");
                    Console.WriteLine(MoeClassifierModel.FormatMetrics(result));
                    Console.WriteLine($"Saved {MoeClassifierModel.MLNetModelPath}");
                    return 0;
                case "predict" when args.Length >= 2:
                    var input = new MoeClassifierModel.ModelInput { Text = args[1] };
                    MoeClassifierModel.ModelOutput output = MoeClassifierModel.Predict(input);
                    Console.WriteLine($"PredictedLabel: {output.PredictedLabel}");
                    foreach (var (label, score) in MoeClassifierModel.PredictAllLabels(input)) Console.WriteLine($"  {label}: {score:F4}");
                    return 0;
                default:
                    Console.Error.WriteLine("Usage: train [--data FILE] [--quick] [--model FILE] | predict TEXT [--model FILE]");
                    return 2;
            }
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }

    private static string? Argument(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
