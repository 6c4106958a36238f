using System.Text;
using Microsoft.ML;
using MLNet.MoE;

/// <summary>Quick mode: a throwaway model and an input file, so the job runs end to end without any files of its own.</summary>
internal static class QuickSetup
{
    private const int Rows = 400;

    public static BatchScoringArguments Prepare(MLContext ml, BatchScoringArguments arguments)
    {
        string work = arguments.WorkDirectory;
        Directory.CreateDirectory(work);
        string[] verses = File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Data", "kjv-pentateuch.txt")).Where(l => l.Length > 0).Take(Rows).ToArray();

        string model = Path.Combine(work, "model.zip");
        if (!File.Exists(model))
        {
            Console.WriteLine("Quick mode: training a throwaway model for a few steps...");
            IDataView data = ml.Data.LoadFromEnumerable(verses.Take(300).Select(v => new TextRow { Text = v }).ToList());
            var options = new LanguageModelOptions
            {
                Model = MoeModelConfig.Tiny with { HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 2, KvLoraRank = 16, QLoraRank = 16, QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8, NRoutedExperts = 4 },
                ContextLength = 64,
                BatchSize = 4,
                MaxSteps = 5,
                WarmupSteps = 1,
                ValidationFraction = 0,
            };
            var pipeline = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Append(ml.MoE().Trainers.LanguageModel(options));
            ml.MoE().SaveModel(pipeline.Fit(data), data.Schema, model);
        }

        string input = Path.Combine(work, "input.tsv");
        if (!File.Exists(input))
        {
            var text = new StringBuilder("Id\tText\n");
            for (int i = 0; i < verses.Length; i++) text.Append("verse-").Append(i + 1).Append('\t').Append(verses[i]).Append('\n');
            File.WriteAllText(input, text.ToString());
        }
        // A fresh output each quick run; a partial one from an interrupted quick run is resumed.
        string output = Path.Combine(work, "scored.tsv");
        File.Delete(output);
        return arguments with { ModelPath = model, InputPath = input, OutputPath = output, IdColumn = "Id" };
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }
}
