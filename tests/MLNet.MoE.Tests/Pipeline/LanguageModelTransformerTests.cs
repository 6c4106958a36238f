using Microsoft.ML;
using Microsoft.ML.Data;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;

namespace MLNet.MoE.Tests.Pipeline;

/// <summary>Scoring, generation and evaluation through the pipeline, on one trained model.</summary>
public class LanguageModelTransformerTests : IClassFixture<LanguageModelTransformerTests.TrainedModel>
{
    private readonly TrainedModel trained;

    public LanguageModelTransformerTests(TrainedModel trained) => this.trained = trained;

    public sealed class TrainedModel
    {
        public TrainedModel()
        {
            Ml = new MLContext(seed: 1);
            Train = Ml.Data.LoadFromEnumerable(Verses(150));
            Test = Ml.Data.LoadFromEnumerable(Verses(170).Skip(150).ToList());
            Model = PipelineTestData.Train(Ml, Train, Options(steps: 10));
            LanguageModel = ((TransformerChain<LanguageModelTransformer>)Model).LastTransformer;
        }

        public MLContext Ml { get; }

        public IDataView Train { get; }

        public IDataView Test { get; }

        public ITransformer Model { get; }

        public LanguageModelTransformer LanguageModel { get; }
    }

    /// <summary>"one 1 MB text row through a PredictionEngine takes 45 s; say what bounds a row": MaxTokensPerRow, refused
    /// naming the column and the bound before any window is scored.</summary>
    [Fact]
    public void ARowLongerThanMaxTokensPerRowIsRefusedNamingTheColumnAndTheBound()
    {
        var lm = trained.LanguageModel;
        Assert.Equal(0, lm.MaxTokensPerRow);
        string longText = string.Concat(Enumerable.Repeat(File.ReadAllText(TestPaths.KjvVerses), 2))[..(1 << 20)];
        int tokens = lm.Tokenizer.Encode(longText).Length;
        int bound = 4 * lm.ContextLength;
        string shorter = longText[..bound];
        int shorterTokens = lm.Tokenizer.Encode(shorter).Length;
        Assert.InRange(shorterTokens, 1, bound);
        lm.MaxTokensPerRow = bound;
        try
        {
            var engine = trained.Ml.Model.CreatePredictionEngine<TextRow, ScoredRow>(trained.Model);
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => engine.Predict(new TextRow { Text = longText }));
            Assert.Contains("column 'Tokens'", error.Message, StringComparison.Ordinal);
            Assert.Contains($"{tokens:N0} tokens, more than the language model's MaxTokensPerRow ({bound:N0})", error.Message, StringComparison.Ordinal);
            Assert.Equal(shorterTokens, engine.Predict(new TextRow { Text = shorter }).TokenCount);
            Assert.Throws<ArgumentOutOfRangeException>(() => lm.ScoreBatch([lm.Tokenizer.Encode(longText)]));
        }
        finally
        {
            lm.MaxTokensPerRow = 0;
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => lm.MaxTokensPerRow = -1);
    }

    [Fact]
    public void ScoreColumnsAgreeWithTheModelsOwnCrossEntropy()
    {
        // Texts shorter than the context, so one forward pass scores each whole row.
        var lm = trained.LanguageModel;
        var texts = Verses(3).Select(v => new TextRow { Text = v.Text[..(lm.ContextLength - 8)] }).ToList();
        var scored = trained.Model.Transform(trained.Ml.Data.LoadFromEnumerable(texts));
        var rows = trained.Ml.Data.CreateEnumerable<ScoredRow>(scored, reuseRowObject: false).ToList();
        for (int i = 0; i < 3; i++)
        {
            int[] tokens = lm.Tokenizer.Encode(texts[i].Text);
            using var scope = TorchSharp.torch.NewDisposeScope();
            using var noGrad = TorchSharp.torch.no_grad();
            var input = TorchSharp.torch.tensor(new long[] { lm.Tokenizer.EndOfTextId }.Concat(tokens[..^1].Select(t => (long)t)).ToArray(), new long[] { 1, tokens.Length });
            var logits = lm.Model.Forward(input, new ForwardContext());
            var target = TorchSharp.torch.tensor(tokens.Select(t => (long)t).ToArray());
            double expected = TorchSharp.torch.nn.functional.cross_entropy(logits[0], target).item<float>();
            Assert.Equal(tokens.Length, rows[i].TokenCount);
            Assert.Equal(expected, rows[i].Score, 4);
            Assert.Equal(Math.Exp(rows[i].Score), rows[i].Perplexity, Math.Exp(rows[i].Score) * 1e-5);
        }
    }

    [Fact]
    public void EvaluateAggregatesTokenWeightedMetrics()
    {
        var scored = trained.Model.Transform(trained.Test);
        var metrics = trained.Ml.MoE().Evaluate(scored, textColumnName: "Text");
        var rows = trained.Ml.Data.CreateEnumerable<ScoredRow>(scored, reuseRowObject: false).ToList();
        var texts = trained.Ml.Data.CreateEnumerable<TextRow>(trained.Test, reuseRowObject: false).ToList();
        double nats = rows.Sum(r => (double)r.Score * r.TokenCount);
        long tokens = rows.Sum(r => (long)r.TokenCount);
        long bytes = texts.Sum(t => System.Text.Encoding.UTF8.GetByteCount(t.Text));
        Assert.Equal(tokens, metrics.TokenCount);
        Assert.Equal(rows.Count, metrics.RowCount);
        Assert.Equal(nats / tokens, metrics.CrossEntropy, 5);
        Assert.Equal(Math.Exp(nats / tokens), metrics.Perplexity, 4);
        Assert.Equal(nats / Math.Log(2) / bytes, metrics.BitsPerByte, 5);
        Assert.InRange(metrics.NextTokenAccuracy, 0.0, 1.0);
    }

    [Fact]
    public void GenerationWithTheCacheGivesTheSameTokensAsRecomputing()
    {
        var lm = trained.LanguageModel;
        int[] prompt = new[] { lm.Tokenizer.EndOfTextId }.Concat(lm.Tokenizer.Encode("And God said")).ToArray();
        foreach (var sampler in new Func<TokenSampler>[] { () => new TokenSampler(0, 0, 1, 1), () => new TokenSampler(0.9, 20, 0.95, 5) })
        {
            int[] cached = TokenGenerator.Generate(lm.Model, prompt, 15, sampler(), useCache: true);
            int[] recomputed = TokenGenerator.Generate(lm.Model, prompt, 15, sampler(), useCache: false);
            Assert.Equal(15, cached.Length);
            Assert.Equal(recomputed, cached);
        }
    }

    [Fact]
    public void GenerationHonoursSeedsTemperatureAndStopSequences()
    {
        var lm = trained.LanguageModel;
        var sampled = new GenerationOptions { MaxNewTokens = 20, Temperature = 1.0, TopK = 50, TopP = 0.9, Seed = 11, StopAtEndOfText = false };
        Assert.Equal(lm.Generate("In the beginning", sampled), lm.Generate("In the beginning", sampled));
        string full = lm.Generate("In the", new GenerationOptions { MaxNewTokens = 20, StopAtEndOfText = false });
        Assert.True(full.Length >= 3);
        string stop = full.Substring(2, 1);
        string stopped = lm.Generate("In the", new GenerationOptions { MaxNewTokens = 20, StopAtEndOfText = false, StopSequences = new[] { stop } });
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], stopped);
        Assert.Throws<ArgumentOutOfRangeException>(() => lm.Generate("x", new GenerationOptions { TopP = 0 }));
    }

    [Fact]
    public void PredictionEngineGivesTheSameAsTransform()
    {
        var engine = trained.Ml.Model.CreatePredictionEngine<TextRow, ScoredRow>(trained.Model);
        var first = trained.Ml.Data.CreateEnumerable<ScoredRow>(trained.Model.Transform(trained.Test), reuseRowObject: false).First();
        var text = trained.Ml.Data.CreateEnumerable<TextRow>(trained.Test, reuseRowObject: false).First();
        var predicted = engine.Predict(text);
        Assert.Equal(first.Score, predicted.Score);
        Assert.Equal(first.GeneratedText, predicted.GeneratedText);
        Assert.Equal(trained.LanguageModel.Generate(text.Text), predicted.GeneratedText);
    }
}
