using Microsoft.ML;
using Microsoft.ML.Data;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;

namespace MLNet.MoE.Tests.Pipeline;

/// <summary>Batched scoring gives each row what scoring it alone gives.</summary>
public class BatchScoringTests : IClassFixture<BatchScoringTests.TrainedModel>
{
    private readonly LanguageModelTransformer lm;

    public BatchScoringTests(TrainedModel trained) => lm = trained.LanguageModel;

    public sealed class TrainedModel
    {
        public TrainedModel()
        {
            var ml = new MLContext(seed: 1);
            var chain = PipelineTestData.Train(ml, ml.Data.LoadFromEnumerable(Verses(80)), Options(steps: 4));
            LanguageModel = ((TransformerChain<LanguageModelTransformer>)chain).LastTransformer;
        }

        public LanguageModelTransformer LanguageModel { get; }
    }

    [Fact]
    public void EachRowOfABatchScoresAsItDoesAlone()
    {
        int context = lm.ContextLength;
        var verses = Verses(12).Select(v => lm.Tokenizer.Encode(v.Text)).ToList();
        var rows = new List<IReadOnlyList<int>>
        {
            verses[0][..5],
            verses[1][..context],           // exactly one window
            verses[2],                       // longer than the context: scored in windows
            Array.Empty<int>(),
            verses[3][..1],
            verses[4][..(context - 3)],
            verses[0][..5],                  // a repeated row
        };
        for (int i = 5; i < 12; i++) rows.Add(verses[i][..Math.Min(verses[i].Length, 3 + 4 * i % context)]);
        Assert.True(verses[2].Length > context, "the long row must exceed the context to exercise the windowed path");

        var alone = rows.Select(r => lm.ScoreTokens(r)).ToList();
        foreach (int maxTokensPerPass in new[] { LanguageModelTransformerBase.DefaultMaxTokensPerPass, context + 1 })
        {
            StreamScore[] batch = lm.ScoreBatch(rows, maxTokensPerPass);
            Assert.Equal(rows.Count, batch.Length);
            for (int i = 0; i < rows.Count; i++)
            {
                Assert.Equal(alone[i].Tokens, batch[i].Tokens);
                Assert.Equal(alone[i].Correct, batch[i].Correct);
                if (alone[i].Tokens == 0) continue;
                double expectedMean = alone[i].CrossEntropySum / alone[i].Tokens;
                double actualMean = batch[i].CrossEntropySum / batch[i].Tokens;
                Assert.True(Math.Abs(expectedMean - actualMean) <= 1e-5, $"row {i}: batch {actualMean} vs alone {expectedMean}");
            }
        }
    }

    [Fact]
    public void ATokenOutsideTheVocabularyNamesItsRow()
    {
        var rows = new List<IReadOnlyList<int>> { new[] { 1, 2 }, new[] { 3, lm.Model.Config.VocabSize } };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => lm.ScoreBatch(rows));
        Assert.Contains("row 1", error.Message);
    }
}
