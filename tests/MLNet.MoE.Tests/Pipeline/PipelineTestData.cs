using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE.Tests.Pipeline;

/// <summary>Rows and a small model configuration shared by the pipeline tests.</summary>
internal static class PipelineTestData
{
    public sealed class TextRow
    {
        public string Text { get; set; } = "";
    }

    public sealed class ScoredRow
    {
        public float Score { get; set; }

        public float Perplexity { get; set; }

        public float TokenCount { get; set; }

        public string GeneratedText { get; set; } = "";
    }

    /// <summary>A model small enough to train a few steps in a second on two cores, with every architectural part (MLA with q LoRA, dense and MoE blocks, shared experts, groups, MTP).</summary>
    public static MoeModelConfig SmallConfig => new()
    {
        HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
        NumKeyValueHeads = 2, KvLoraRank = 16, QLoraRank = 16, QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8,
        NRoutedExperts = 4, NumExpertsPerTok = 2, NGroup = 2, TopkGroup = 2, MaxPositionEmbeddings = 64, NumNextnPredictLayers = 1,
    };

    /// <summary>The first <paramref name="count"/> verses of the King James Bible shipped in the repository.</summary>
    public static List<TextRow> Verses(int count) =>
        File.ReadLines(TestPaths.KjvVerses).Take(count).Select(t => new TextRow { Text = t }).ToList();

    public static LanguageModelOptions Options(int steps = 6) => new()
    {
        Model = SmallConfig,
        ContextLength = 32,
        BatchSize = 4,
        MaxSteps = steps,
        WarmupSteps = 2,
        LogEverySteps = 2,
        ValidationFraction = 0.1,
        Seed = 3,
        PromptColumnName = "Text",
        Generation = new GenerationOptions { MaxNewTokens = 12 },
    };

    public static TransformerChain<LanguageModelTransformer> Train(MLContext ml, IDataView data, LanguageModelOptions options) =>
        ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Append(ml.MoE().Trainers.LanguageModel(options)).Fit(data);
}
