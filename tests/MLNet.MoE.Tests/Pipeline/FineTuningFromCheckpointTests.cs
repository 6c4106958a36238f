using Microsoft.ML;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;

namespace MLNet.MoE.Tests.Pipeline;

/// <summary>A Hugging Face checkpoint in ML.NET: as a pipeline transformer, and as the start of training.</summary>
public class FineTuningFromCheckpointTests
{
    private static string WriteCheckpoint()
    {
        string directory = TestPaths.NewTempDirectory();
        using var model = new MoeCausalLM(SmallConfig with { VocabSize = MoeTokenizer.ByteLevel().VocabularySize }, seed: 9);
        HuggingFaceCheckpoint.Save(model, directory);
        return directory;
    }

    [Fact]
    public void TheTrainerFineTunesTheCheckpointsWeights()
    {
        string checkpoint = WriteCheckpoint();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Verses(80));
        var options = Options(steps: 6);
        options.Model = null;
        options.InitialModel = LanguageModelTransformer.Over(HuggingFaceCheckpoint.Load(checkpoint), MoeTokenizer.ByteLevel());
        options.LogEverySteps = 1;
        var model = Train(ml, data, options).LastTransformer;
        // The weights are copied: the initial model is not changed.
        Assert.NotSame(options.InitialModel.Model, model.Model);
        using (var untouched = HuggingFaceCheckpoint.Load(checkpoint))
        {
            var initial = options.InitialModel.Model.state_dict();
            Assert.All(untouched.state_dict(), kv => Assert.True(TensorAssert.Same(kv.Value, initial[kv.Key]), kv.Key));
        }
        var history = model.TrainingSummary!.History.ToList();
        Assert.Equal(6, history.Count);
        Assert.True(history[^1].Loss < history[0].Loss, $"{history[0].Loss} -> {history[^1].Loss}");
        using var original = HuggingFaceCheckpoint.Load(checkpoint);
        var trained = model.Model.state_dict();
        Assert.Contains(original.state_dict(), kv => !TensorAssert.Same(kv.Value, trained[kv.Key]));
    }

    [Fact]
    public void ACheckpointBecomesAPipelineTransformerThatSavesToAZip()
    {
        string checkpoint = WriteCheckpoint();
        var ml = new MLContext(seed: 1);
        var lm = ml.MoE().LoadHuggingFace(checkpoint, MoeTokenizer.ByteLevel(), promptColumnName: "Text", contextLength: 32,
            generation: new GenerationOptions { MaxNewTokens = 5 });
        var data = ml.Data.LoadFromEnumerable(Verses(3));
        var pipeline = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Fit(data).Append(lm);
        var before = ml.Data.CreateEnumerable<ScoredRow>(pipeline.Transform(data), reuseRowObject: false).ToList();
        string zip = Path.Combine(TestPaths.NewTempDirectory(), "imported.zip");
        ml.MoE().SaveModel(pipeline, data.Schema, zip);
        var loaded = new MLContext(seed: 2).Model.Load(zip, out _);
        var after = ml.Data.CreateEnumerable<ScoredRow>(loaded.Transform(data), reuseRowObject: false).ToList();
        Assert.Equal(before.Select(r => r.Score), after.Select(r => r.Score));
        Assert.Equal(before.Select(r => r.GeneratedText), after.Select(r => r.GeneratedText));
        Assert.All(before, r => Assert.True(r.TokenCount > 0 && float.IsFinite(r.Score)));
    }

    [Fact]
    public void ATokenizerLargerThanTheCheckpointsVocabularyIsRefused()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            new MLContext().MoE().LoadHuggingFace(TestPaths.HuggingFaceFixture, MoeTokenizer.ByteLevel()));
        Assert.Contains("vocab_size", error.Message, StringComparison.Ordinal);
    }
}
