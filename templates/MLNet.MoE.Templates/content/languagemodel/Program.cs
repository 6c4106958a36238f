// Trains MoeGenerativeModel.mlnet as MoeGenerativeModel.mbconfig says and continues text with it.
//
//   dotnet run -- train [--data FILE] [--quick]    trains (on the .mbconfig's data file unless --data is given),
//                                                  prints the held-out metrics, saves the model
//   dotnet run -- predict "some text"              prints the continuation, the text's perplexity and score
//   --model FILE: the model file (default MoeGenerativeModel.mlnet beside the program).
namespace MoeModelNamespace;

/// <summary>The command line.</summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        string? modelPath = Argument(args, "--model");
        if (modelPath != null) MoeGenerativeModel.MLNetModelPath = modelPath;
        try
        {
            switch (args.FirstOrDefault())
            {
                case "train":
                    bool quick = args.Contains("--quick");
                    Console.WriteLine($"Training {MoeGenerativeModel.MLNetModelPath} as {MoeGenerativeModel.MBConfigPath} says{(quick ? " (quick run)" : "")}...");
                    var metrics = MoeGenerativeModel.Train(MoeGenerativeModel.MLNetModelPath, Argument(args, "--data"), quick);
                    Console.WriteLine("Held-out metrics:");
                    Console.WriteLine(MoeGenerativeModel.FormatMetrics(metrics));
                    Console.WriteLine($"Saved {MoeGenerativeModel.MLNetModelPath}");
                    return 0;
                case "predict" when args.Length >= 2:
                    MoeGenerativeModel.ModelOutput output = MoeGenerativeModel.Predict(new MoeGenerativeModel.ModelInput { Text = args[1] });
                    Console.WriteLine($"GeneratedText: {output.GeneratedText}");
                    Console.WriteLine($"Perplexity: {output.Perplexity:F4}");
                    Console.WriteLine($"Score: {output.Score:F4}");
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
