// Usage: MLNet.MoE.TrainingRun <kjv.txt> <checkpoint-dir> <steps> [--resume] [--exit-after-step N]
// Trains a small model on the first 200 lines of the text with a checkpoint every 4 steps and prints one JSON line
// per step ({"step":..,"loss":..}). --exit-after-step ends the process abruptly right after that step's report, as
// a crash would; --resume continues from the newest checkpoint in the folder.
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using MLNet.MoE;

string corpus = args[0];
string checkpoints = args[1];
int steps = int.Parse(args[2], CultureInfo.InvariantCulture);
bool resume = args.Contains("--resume");
int exitAfter = args.SkipWhile(a => a != "--exit-after-step").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(-1);

var ml = new MLContext(seed: 1);
var data = ml.Data.LoadFromEnumerable(File.ReadLines(corpus).Take(200).Select(t => new TextRow { Text = t }).ToList());
var options = new LanguageModelOptions
{
    Model = new MoeModelConfig
    {
        HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
        NumKeyValueHeads = 2, KvLoraRank = 16, QLoraRank = 16, QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8,
        NRoutedExperts = 4, NumExpertsPerTok = 2, MaxPositionEmbeddings = 64, NumNextnPredictLayers = 1,
    },
    ContextLength = 32,
    BatchSize = 4,
    GradientAccumulationSteps = 2,
    MaxSteps = steps,
    WarmupSteps = 3,
    LogEverySteps = 1,
    ValidationFraction = 0,
    Seed = 3,
    CheckpointDirectory = checkpoints,
    CheckpointEverySteps = 4,
    KeepCheckpoints = 2,
    ResumeFrom = resume ? checkpoints : null,
    Progress = new LineProgress(exitAfter),
};
ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Append(ml.MoE().Trainers.LanguageModel(options)).Fit(data);
return 0;

internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

internal sealed class LineProgress(int exitAfter) : IProgress<LanguageModelProgress>
{
    public void Report(LanguageModelProgress value)
    {
        if (value.ValidationLoss != null) return;
        Console.WriteLine(JsonSerializer.Serialize(new { step = value.Step, loss = value.Loss, checkpoint = value.CheckpointPath }));
        Console.Out.Flush();
        if (value.Step == exitAfter) Environment.Exit(3);
    }
}
