using System.Globalization;

/// <summary>Command-line options of the sample.</summary>
internal sealed record BibleArguments
{
    public bool Quick { get; init; }

    public string OutputDirectory { get; init; } = "artifacts/bible";

    public string? CorpusPath { get; init; }

    public int Steps { get; init; } = 2000;

    public int CheckpointEvery { get; init; } = 250;

    public int? StopAfter { get; init; }

    public bool Fresh { get; init; }

    public int ContextLength { get; init; } = 256;

    public int BatchSize { get; init; } = 16;

    public int WarmupSteps { get; init; } = 100;

    public double LearningRate { get; init; } = 3e-3;

    public int LogEvery { get; init; } = 10;

    public const string Usage = "Options: --quick, --out DIR, --corpus kjv.txt, --steps N, --checkpoint-every N, --stop-after N, --fresh.";

    public static BibleArguments Parse(string[] args)
    {
        bool quick = args.Contains("--quick") || Environment.GetEnvironmentVariable("MLNET_MOE_SAMPLE_QUICK") == "1";
        var result = quick
            ? new BibleArguments { Quick = true, Steps = 20, CheckpointEvery = 10, ContextLength = 64, BatchSize = 4, WarmupSteps = 4, LogEvery = 2 }
            : new BibleArguments();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value. {Usage}");
            int Positive(string name)
            {
                string text = Next();
                if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < 1)
                    throw new ArgumentException($"{name} must be a positive whole number, not '{text}'.");
                return value;
            }
            result = args[i] switch
            {
                "--quick" => result,
                "--fresh" => result with { Fresh = true },
                "--out" => result with { OutputDirectory = Next() },
                "--corpus" => result with { CorpusPath = Next() },
                "--steps" => result with { Steps = Positive("--steps") },
                "--checkpoint-every" => result with { CheckpointEvery = Positive("--checkpoint-every") },
                "--stop-after" => result with { StopAfter = Positive("--stop-after") },
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'. {Usage}"),
            };
        }
        return result;
    }
}
