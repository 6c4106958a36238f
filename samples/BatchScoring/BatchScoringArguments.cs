/// <summary>Command-line options of the batch-scoring job.</summary>
internal sealed record BatchScoringArguments
{
    public const string Usage = "Usage: BatchScoring --model model.zip --input texts.tsv --output scored.tsv [--id-column Id] [--flush-every 256] | --quick [--work DIR]";

    public string ModelPath { get; init; } = "";

    public string InputPath { get; init; } = "";

    public string OutputPath { get; init; } = "";

    /// <summary>A column copied to the output to identify each row; null writes the row number instead.</summary>
    public string? IdColumn { get; init; }

    /// <summary>Rows between flushes of the output: what a crash can lose at most (those rows are scored again).</summary>
    public int FlushEvery { get; init; } = 256;

    public bool Quick { get; init; }

    /// <summary>Quick mode's folder for its model, input and output.</summary>
    public string WorkDirectory { get; init; } = "artifacts/batchscoring";

    public static BatchScoringArguments Parse(string[] args)
    {
        bool quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
        var result = new BatchScoringArguments { Quick = quick };
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            result = args[i] switch
            {
                "--quick" => result,
                "--model" => result with { ModelPath = Next() },
                "--input" => result with { InputPath = Next() },
                "--output" => result with { OutputPath = Next() },
                "--id-column" => result with { IdColumn = Next() },
                "--work" => result with { WorkDirectory = Next() },
                "--flush-every" => result with { FlushEvery = int.TryParse(Next(), out int n) && n > 0 ? n : throw new ArgumentException("--flush-every must be a positive whole number.") },
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'."),
            };
        }
        if (!result.Quick && (result.ModelPath.Length == 0 || result.InputPath.Length == 0 || result.OutputPath.Length == 0))
            throw new ArgumentException("--model, --input and --output are required (or --quick).");
        return result;
    }
}
