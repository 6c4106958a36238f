using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;

namespace MLNet.MoE.Tests.Pipeline;

public class LanguageModelTrainerTests
{
    private sealed class NumberRow
    {
        public float Tokens { get; set; }

        public string Text { get; set; } = "";
    }

    private static LanguageModelTransformer LanguageModelOf(TransformerChain<LanguageModelTransformer> chain) => chain.LastTransformer;

    [Fact]
    public void SameSeedAndDataGiveTheSameLossCurveOnCpu()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Verses(120));
        var first = LanguageModelOf(Train(ml, data, Options()));
        var second = LanguageModelOf(Train(new MLContext(seed: 1), data, Options()));
        var a = first.TrainingSummary!.History.Select(h => h.Loss).ToArray();
        var b = second.TrainingSummary!.History.Select(h => h.Loss).ToArray();
        Assert.Equal(3, a.Length);
        Assert.Equal(a, b);
        Assert.Equal(first.TrainingSummary.ValidationLoss, second.TrainingSummary.ValidationLoss);
    }

    [Fact]
    public void TrainingLowersTheLossAndReportsProgressThroughMLContextLogAndCallback()
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { if (e.Source.Contains(nameof(LanguageModelTrainer), StringComparison.Ordinal)) lock (log) log.Add(e.Message); };
        var reports = new List<LanguageModelProgress>();
        var options = Options(steps: 30);
        options.LearningRate = 1e-2;
        options.Progress = new SynchronousProgress(reports.Add);
        var model = LanguageModelOf(Train(ml, ml.Data.LoadFromEnumerable(Verses(200)), options));
        Assert.Equal(Enumerable.Range(1, 15).Select(i => i * 2), reports.Where(r => r.ValidationLoss == null).Select(r => r.Step));
        Assert.True(reports[^1].Loss < reports[0].Loss - 0.5, $"loss {reports[0].Loss} -> {reports[^1].Loss}");
        Assert.All(reports, r => Assert.True(r.TokensPerSecond > 0 && r.LearningRate > 0));
        Assert.All(reports, r => Assert.Equal(new[] { 1, 2 }, r.ExpertLoadMaxOverMean.Keys.Order()));
        Assert.NotNull(reports[^1].ValidationLoss);
        Assert.Contains(log, m => m.Contains("step 30/30", StringComparison.Ordinal) && m.Contains("loss", StringComparison.Ordinal));
        Assert.False(double.IsNaN(model.TrainingSummary!.ValidationLoss));
    }

    /// <summary>"LanguageModelOptions { ContextLength = 1_000_000 } with the default model passes validation, then the first
    /// forward dies in TorchSharp's allocator (ExternalException)".</summary>
    [Fact]
    public void AContextLengthWhoseAttentionCannotFitIsRefusedBeforeTraining()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(File.ReadLines(TestPaths.KjvVerses).Select(t => new TextRow { Text = t }).ToList());
        bool trained = false;
        var options = new LanguageModelOptions { ContextLength = 1_000_000, MaxSteps = 1, Progress = new SynchronousProgress(_ => trained = true) };
        options.Validate();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Append(ml.MoE().Trainers.LanguageModel(options)).Fit(data));
        Assert.Equal(nameof(LanguageModelOptions.ContextLength), error.ParamName);
        Assert.Contains("LanguageModelOptions.ContextLength 1,000,000", error.Message, StringComparison.Ordinal);
        Assert.Contains("attention scores", error.Message, StringComparison.Ordinal);
        Assert.False(trained);
    }

    [Fact]
    public void LiveTensorCountStaysFlatAcrossTrainingSteps()
    {
        var ml = new MLContext(seed: 1);
        var counts = new List<long>();
        var options = Options(steps: 24);
        options.Progress = new SynchronousProgress(p => { if (p.ValidationLoss == null) counts.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount); });
        using var model = LanguageModelOf(Train(ml, ml.Data.LoadFromEnumerable(Verses(60)), options));
        Assert.Equal(12, counts.Count);
        // No growth from step to step: every later report sees at most the tensors alive at the second one.
        Assert.True(counts.Skip(1).All(c => c <= counts[1]) && counts.Skip(1).Take(10).All(c => c == counts[1]), string.Join(", ", counts));
    }

    [Fact]
    public void EmptyRowsAreSkippedAndCounted()
    {
        var ml = new MLContext(seed: 1);
        var rows = Verses(40);
        rows.Insert(3, new TextRow { Text = "" });
        rows.Insert(9, new TextRow { Text = "" });
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        var model = LanguageModelOf(Train(ml, ml.Data.LoadFromEnumerable(rows), Options(steps: 2)));
        Assert.Equal(2, model.TrainingSummary!.SkippedEmptyRows);
        Assert.Contains(log, m => m.Contains("Skipped 2 rows", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(nameof(LanguageModelOptions.ContextLength))]
    [InlineData(nameof(LanguageModelOptions.BatchSize))]
    [InlineData(nameof(LanguageModelOptions.LearningRate))]
    [InlineData(nameof(LanguageModelOptions.ValidationFraction))]
    [InlineData(nameof(LanguageModelOptions.GradientAccumulationSteps))]
    public void OutOfRangeOptionsFailBeforeTrainingNamingTheOption(string option)
    {
        var ml = new MLContext(seed: 1);
        var options = Options();
        bool trained = false;
        options.Progress = new SynchronousProgress(_ => trained = true);
        switch (option)
        {
            case nameof(LanguageModelOptions.ContextLength): options.ContextLength = 1000; break;
            case nameof(LanguageModelOptions.BatchSize): options.BatchSize = 0; break;
            case nameof(LanguageModelOptions.LearningRate): options.LearningRate = -1; break;
            case nameof(LanguageModelOptions.ValidationFraction): options.ValidationFraction = 0.9; break;
            case nameof(LanguageModelOptions.GradientAccumulationSteps): options.GradientAccumulationSteps = 3; break;
        }
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Train(ml, ml.Data.LoadFromEnumerable(Verses(20)), options));
        Assert.Contains(option, error.Message);
        Assert.False(trained);
    }

    [Fact]
    public void MissingOrWronglyTypedTokenColumnIsNamed()
    {
        var ml = new MLContext(seed: 1);
        var trainer = ml.MoE().Trainers.LanguageModel(Options());
        var wrong = ml.Data.LoadFromEnumerable(new[] { new NumberRow { Tokens = 1, Text = "x" } });
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(wrong));
        Assert.Contains("'Tokens'", error.Message);
        Assert.Contains("vector of Int32", error.Message);
        Assert.Contains("'Tokens'", Assert.Throws<ArgumentOutOfRangeException>(() => trainer.GetOutputSchema(SchemaChecks.ShapeOf(wrong.Schema))).Message);
        var noTokens = ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "x" } });
        Assert.Contains("'Tokens'", Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(noTokens)).Message);
    }

    [Fact]
    public void RowsLongerThanTheContextAreScoredInWindowsAndPromptsAreLeftTruncated()
    {
        var ml = new MLContext(seed: 1);
        var model = LanguageModelOf(Train(ml, ml.Data.LoadFromEnumerable(Verses(60)), Options()));
        string longText = string.Join(" ", Verses(4).Select(v => v.Text));
        int[] tokens = model.Tokenizer.Encode(longText);
        Assert.True(tokens.Length > 3 * model.ContextLength);
        var score = model.ScoreTokens(tokens);
        Assert.Equal(tokens.Length, score.Tokens);
        Assert.True(double.IsFinite(score.CrossEntropySum));
        // A prompt longer than the context keeps its last tokens: the same output as the prompt cut to them.
        int keep = model.ContextLength - model.Generation.MaxNewTokens;
        string tail = model.Tokenizer.Decode(tokens[^keep..]);
        Assert.Equal(model.Generate(tail), model.Generate(longText));
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<LanguageModelProgress> report) : IProgress<LanguageModelProgress>
    {
        public void Report(LanguageModelProgress value) => report(value);
    }
}
