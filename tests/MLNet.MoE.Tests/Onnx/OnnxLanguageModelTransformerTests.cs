using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Tests.Pipeline;
using Xunit.Abstractions;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>The ONNX-backed language-model transformer against the TorchSharp one it was exported from.</summary>
public class OnnxLanguageModelTransformerTests(ITestOutputHelper output)
{
    public sealed class Row
    {
        public float Score { get; set; }

        public float Perplexity { get; set; }

        public float TokenCount { get; set; }

        public float TokenAccuracy { get; set; }

        public string GeneratedText { get; set; } = "";
    }

    private static List<PipelineTestData.TextRow> Texts() =>
        // Rows longer than the context (32 tokens with the byte-level tokenizer) are scored in several windows.
        PipelineTestData.Verses(230).Skip(200).Take(6).Select(v => new PipelineTestData.TextRow { Text = v.Text }).ToList();

    private static List<Row> Scored(MLContext ml, ITransformer transformer, IDataView data) =>
        ml.Data.CreateEnumerable<Row>(transformer.Transform(data), reuseRowObject: false).ToList();

    [Fact]
    public void ScoresAndGreedyTextMatchTheTorchSharpTransformer()
    {
        var trained = TrainedModel.Instance;
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Texts());
        var torchModel = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", trained.Transformer.Tokenizer).Fit(data).Append(trained.Transformer);
        using var onnx = ml.MoeOnnx().LoadLanguageModel(trained.Directory, tokenColumnName: "Text", promptColumnName: "Text",
            contextLength: trained.Transformer.ContextLength, generation: trained.Transformer.Generation);
        var expected = Scored(ml, torchModel, data);
        var actual = Scored(ml, onnx, data);
        double worst = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].TokenCount, actual[i].TokenCount);
            Assert.Equal(expected[i].TokenAccuracy, actual[i].TokenAccuracy);
            Assert.Equal(expected[i].GeneratedText, actual[i].GeneratedText);
            worst = Math.Max(worst, Math.Abs(expected[i].Score - actual[i].Score));
            Assert.Equal(Math.Exp(actual[i].Score), actual[i].Perplexity, Math.Exp(actual[i].Score) * 1e-5);
        }
        output.WriteLine($"max |Score onnx - Score torch| = {worst:E3} over {expected.Count} rows");
        Assert.True(worst < 1e-4, $"max score difference {worst:E3}");
        Assert.True(expected.Sum(r => r.TokenCount) > 6 * 32, "the rows should span several windows");
    }

    [Fact]
    public void AtDefaultSettingsLongRowsScoreAsInTheTorchSharpTransformer()
    {
        // The model was trained with a context (32) shorter than max_position_embeddings (64): the export records it, and
        // the ONNX transformer loaded with no settings windows long rows exactly as the TorchSharp transformer does.
        var trained = TrainedModel.Instance;
        Assert.True(trained.Transformer.ContextLength < trained.Transformer.Model.Config.MaxPositionEmbeddings);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Texts());
        var torchModel = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", trained.Transformer.Tokenizer).Fit(data).Append(trained.Transformer);
        // No context length given: the only settings are the columns.
        using var onnx = ml.MoeOnnx().LoadLanguageModel(trained.Directory, tokenColumnName: "Text", promptColumnName: "Text");
        Assert.Equal(trained.Transformer.ContextLength, onnx.ContextLength);

        var expected = Scored(ml, torchModel, data);
        var actual = Scored(ml, onnx, data);
        Assert.True(expected.Count(r => r.TokenCount > trained.Transformer.ContextLength) >= 3, "most rows should span several windows");
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e.Score - a.Score)).Max();
        output.WriteLine($"default settings: max |Score onnx - Score torch| = {worst:E3} over {expected.Count} rows");
        Assert.Equal(expected.Select(r => r.TokenCount), actual.Select(r => r.TokenCount));
        Assert.True(worst < 1e-4, $"max score difference {worst:E3}");
        // The generation options travel too: the same text comes out with no options given.
        Assert.Equal(trained.Transformer.Generation.MaxNewTokens, onnx.Generation.MaxNewTokens);
        Assert.Equal(trained.Transformer.Generation.StopSequences, onnx.Generation.StopSequences);
        Assert.Equal(trained.Transformer.Generation with { StopSequences = onnx.Generation.StopSequences }, onnx.Generation);
        Assert.Equal(expected.Select(r => r.GeneratedText), actual.Select(r => r.GeneratedText));

        using var genai = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(trained.Directory, "genai_config.json")));
        Assert.Equal(trained.Transformer.ContextLength, genai.RootElement.GetProperty("model").GetProperty("context_length").GetInt32());
        Assert.Equal(trained.Transformer.ContextLength, genai.RootElement.GetProperty("search").GetProperty("max_length").GetInt32());
    }

    [Fact]
    public void ABatchOfPaddedTextsScoresAsEachTextAlone()
    {
        var trained = TrainedModel.Instance;
        var ml = new MLContext(seed: 1);
        using var onnx = ml.MoeOnnx().LoadLanguageModel(trained.Directory, tokenColumnName: "Text", contextLength: trained.Transformer.ContextLength);
        var texts = PipelineTestData.Verses(260).Skip(230).Take(9)
            .Select((v, i) => (IReadOnlyList<int>)onnx.Tokenizer.Encode(v.Text).Take(3 + 4 * i).Take(onnx.ContextLength).ToArray())
            .Append(Array.Empty<int>()).ToList();
        // A small budget splits the rows over several runs, each padded to its longest row.
        // A row longer than the context is scored on its own in windows, as ScoreTokens scores it.
        texts.Add(Enumerable.Repeat(65, onnx.ContextLength + 5).ToArray());
        var batch = onnx.ScoreBatch(texts, maxTokensPerPass: 64);
        for (int i = 0; i < texts.Count; i++)
        {
            var alone = onnx.ScoreTokens(texts[i]);
            Assert.Equal(alone.Tokens, batch[i].Tokens);
            Assert.Equal(alone.Correct, batch[i].Correct);
            Assert.True(Math.Abs(alone.CrossEntropySum - batch[i].CrossEntropySum) < 1e-4, $"text {i}: batch {batch[i].CrossEntropySum}, alone {alone.CrossEntropySum}");
        }
    }

    [Fact]
    public void SavedZipLoadsBackWithTheOnnxBytesInside()
    {
        var trained = TrainedModel.Instance;
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Texts());
        using var onnx = ml.MoeOnnx().LoadLanguageModel(trained.Directory, tokenColumnName: "Text", promptColumnName: "Text", contextLength: 32,
            generation: new GenerationOptions { MaxNewTokens = 8 });
        string zip = Path.Combine(TestPaths.NewTempDirectory(), "onnx-lm.zip");
        ml.Model.Save(onnx, data.Schema, zip);
        // The zip alone is enough: the export folder is not needed any more, and a new MLContext whose catalog never had
        // MLNet.MoE.Onnx registered loads it (the zip names its loader's assembly).
        var loaded = new MLContext(seed: 1).Model.Load(zip, out _);
        var before = Scored(ml, onnx, data);
        var after = Scored(ml, loaded, data);
        Assert.Equal(before.Select(r => (r.Score, r.TokenCount, r.GeneratedText)), after.Select(r => (r.Score, r.TokenCount, r.GeneratedText)));
        var engine = ml.Model.CreatePredictionEngine<PipelineTestData.TextRow, Row>(loaded);
        Assert.Equal(before[0].GeneratedText, engine.Predict(Texts()[0]).GeneratedText);
        (loaded as IDisposable)?.Dispose();
    }

    [Fact]
    public void GreedyTokensMatchTheTokenGenerator()
    {
        var trained = TrainedModel.Instance;
        var ml = new MLContext(seed: 1);
        using var onnx = ml.MoeOnnx().LoadLanguageModel(trained.Directory);
        int[] prompt = trained.Transformer.Tokenizer.Encode("And God said");
        int[] ours = MLNet.MoE.TokenGenerator.Generate(trained.Transformer.Model, prompt, 16, new MLNet.MoE.TokenSampler(0, 0, 1, 1));
        Assert.Equal(ours, onnx.GenerateTokens(prompt, new GenerationOptions { MaxNewTokens = 16, StopAtEndOfText = false }));
    }
}
