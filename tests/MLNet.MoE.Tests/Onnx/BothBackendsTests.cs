using Microsoft.ML;
using MLNet.MoE.Tests.Pipeline;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>
/// The language model's behaviour, run against both backends (TorchSharp and ONNX Runtime) of one trained model: both
/// transformers share their scoring, generation and columns, so each assertion holds for either, and their figures agree.
/// </summary>
public class BothBackendsTests
{
    public static TheoryData<string> Backends => new() { "torchsharp", "onnx" };

    private static LanguageModelTransformerBase Backend(string backend, string? promptColumnName = null, GenerationOptions? generation = null)
    {
        var trained = TrainedModel.Instance;
        if (backend == "torchsharp")
        {
            var source = trained.Transformer;
            return new LanguageModelTransformer(source.Model.Copy(), source.Tokenizer, "Tokens", promptColumnName, source.ContextLength, generation ?? source.Generation, null);
        }
        return new MLContext(seed: 1).MoeOnnx().LoadLanguageModel(trained.Directory, promptColumnName: promptColumnName,
            contextLength: trained.Transformer.ContextLength, generation: generation ?? trained.Transformer.Generation);
    }

    private static List<IReadOnlyList<int>> Rows(LanguageModelTransformerBase model) =>
        PipelineTestData.Verses(40).Skip(20).Take(7)
            .Select((v, i) => (IReadOnlyList<int>)model.Tokenizer.Encode(v.Text).Take(2 + 5 * i).ToArray())
            .Append(Array.Empty<int>())
            .Append(model.Tokenizer.Encode(string.Concat(PipelineTestData.Verses(6).Select(v => v.Text))).Take(model.ContextLength * 2 + 3).ToArray())
            .ToList();

    [Theory]
    [MemberData(nameof(Backends))]
    public void ABatchScoresEachRowAsItScoresAloneAndALongRowInWindows(string backend)
    {
        using var model = Backend(backend);
        var rows = Rows(model);
        Assert.True(rows[^1].Count > model.ContextLength, "the last row must exceed the context");
        var batch = model.ScoreBatch(rows, maxTokensPerPass: 48);
        for (int i = 0; i < rows.Count; i++)
        {
            var alone = model.ScoreTokens(rows[i]);
            Assert.Equal(rows[i].Count, alone.Tokens);
            Assert.Equal(alone.Tokens, batch[i].Tokens);
            Assert.Equal(alone.Correct, batch[i].Correct);
            Assert.True(Math.Abs(alone.CrossEntropySum - batch[i].CrossEntropySum) < 1e-3, $"{backend} row {i}: batch {batch[i].CrossEntropySum}, alone {alone.CrossEntropySum}");
        }
        Assert.True(double.IsNaN(batch[rows.Count - 2].MeanCrossEntropy), "an empty row has no mean");
    }

    [Fact]
    public void BothBackendsGiveTheSameScoresLogitsAndText()
    {
        var generation = new GenerationOptions { MaxNewTokens = 12, StopSequences = new[] { "\n" } };
        using var torch = Backend("torchsharp", generation: generation);
        using var onnx = Backend("onnx", generation: generation);
        var rows = Rows(torch);
        var a = torch.ScoreBatch(rows);
        var b = onnx.ScoreBatch(rows);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(a[i].Tokens, b[i].Tokens);
            Assert.True(Math.Abs(a[i].CrossEntropySum - b[i].CrossEntropySum) <= 1e-3 * Math.Max(1, a[i].Tokens), $"row {i}: {a[i].CrossEntropySum} vs {b[i].CrossEntropySum}");
        }
        float[] logitsA = torch.Logits(rows[3]), logitsB = onnx.Logits(rows[3]);
        Assert.Equal(rows[3].Count * torch.VocabularySize, logitsA.Length);
        Assert.Equal(logitsA.Length, logitsB.Length);
        Assert.True(logitsA.Zip(logitsB, (x, y) => Math.Abs(x - y)).Max() < 1e-3);
        foreach (string prompt in new[] { "And God said", "In the beginning" })
            Assert.Equal(torch.Generate(prompt), onnx.Generate(prompt));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void TextAndTokenColumnsScoreTheSameAndGeneratedTextStopsAtTheStopSequence(string backend)
    {
        var ml = new MLContext(seed: 1);
        var texts = PipelineTestData.Verses(3).ToList();
        var data = ml.Data.LoadFromEnumerable(texts);
        using var model = Backend(backend, promptColumnName: "Text", generation: new GenerationOptions { MaxNewTokens = 24, StopSequences = new[] { " " } });
        var tokens = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", model.Tokenizer).Fit(data).Transform(data);
        var scored = ml.Data.CreateEnumerable<Row>(model.Transform(tokens), reuseRowObject: false).ToList();
        for (int i = 0; i < texts.Count; i++)
        {
            var expected = model.ScoreTokens(model.Tokenizer.Encode(texts[i].Text));
            Assert.Equal((float)expected.MeanCrossEntropy, scored[i].Score);
            Assert.Equal(expected.Tokens, (long)scored[i].TokenCount);
            Assert.DoesNotContain(" ", scored[i].GeneratedText);
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void GenerateTokensStopsWhenTheCallbackSaysSoAndRefusesIdsOutsideTheVocabulary(string backend)
    {
        using var model = Backend(backend);
        int[] prompt = model.Tokenizer.Encode("And God said");
        int calls = 0;
        int[] three = model.GenerateTokens(prompt, new GenerationOptions { MaxNewTokens = 10, StopAtEndOfText = false }, generated => ++calls == 3);
        Assert.Equal(3, three.Length);
        var outside = new[] { model.VocabularySize };
        Assert.Contains("outside the model's vocabulary", Assert.Throws<ArgumentOutOfRangeException>(() => model.ScoreTokens(outside)).Message);
        Assert.Contains("row 0", Assert.Throws<ArgumentOutOfRangeException>(() => model.ScoreBatch(new[] { outside })).Message);
        Assert.Contains("outside the model's vocabulary", Assert.Throws<ArgumentOutOfRangeException>(() => model.GenerateTokens(outside)).Message);
    }

    [Fact]
    public void BothCatalogsEvaluateTheSameMetricsFromTheirOwnPackages()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(PipelineTestData.Verses(40).Skip(20).Take(12).Select(v => new Row { Text = v.Text }).ToList());
        using var torch = Backend("torchsharp");
        using var onnx = Backend("onnx");
        // Both score a text column; TorchSharp's metrics through mlContext.MoE(), ONNX Runtime's through mlContext.MoeOnnx().
        var tokenize = (LanguageModelTransformerBase model) => ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", model.Tokenizer).Fit(data).Transform(data);
        LanguageModelMetrics a = ml.MoE().Evaluate(torch.Transform(tokenize(torch)), textColumnName: "Text");
        LanguageModelMetrics b = ml.MoeOnnx().Evaluate(onnx.Transform(tokenize(onnx)), textColumnName: "Text");
        Assert.True(a.TokenCount > 0);
        Assert.Equal(a.TokenCount, b.TokenCount);
        Assert.Equal(a.RowCount, b.RowCount);
        Assert.True(Math.Abs(a.CrossEntropy - b.CrossEntropy) < 1e-4, $"{a.CrossEntropy} vs {b.CrossEntropy}");
        Assert.True(Math.Abs(a.BitsPerByte - b.BitsPerByte) < 1e-4, $"{a.BitsPerByte} vs {b.BitsPerByte}");
        Assert.Equal(a.NextTokenAccuracy, b.NextTokenAccuracy, 4);
        var missing = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MoeOnnx().Evaluate(data));
        Assert.Contains("'TokenAccuracy'", missing.Message, StringComparison.Ordinal);
    }

    private sealed class Row
    {
        public string Text { get; set; } = "";

        public float Score { get; set; }

        public float TokenCount { get; set; }

        public string GeneratedText { get; set; } = "";
    }
}
