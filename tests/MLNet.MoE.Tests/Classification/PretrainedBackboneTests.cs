using Microsoft.ML;
using MLNet.MoE.Tests.Pipeline;
using TorchSharp;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>The backbone can start from a language-model zip of this package, a model in memory or a Hugging Face checkpoint.</summary>
public class PretrainedBackboneTests
{
    [Fact]
    public void ALanguageModelZipGivesTheBackboneItsWeightsAndTokenizer()
    {
        var ml = new MLContext(seed: 1);
        var verses = ml.Data.LoadFromEnumerable(PipelineTestData.Verses(60));
        var lmOptions = PipelineTestData.Options(steps: 4);
        lmOptions.PromptColumnName = null;
        var languageModel = PipelineTestData.Train(ml, verses, lmOptions);
        string path = Path.Combine(TestPaths.NewTempDirectory(), "lm.zip");
        ml.Model.Save(languageModel, verses.Schema, path);
        var lm = languageModel.LastTransformer;

        var options = Options(epochs: 1);
        options.Model = null;
        options.LanguageModelPath = path;
        options.MaxSteps = 1;
        options.LearningRate = 1e-9;
        options.WeightDecay = 0;
        options.BiasUpdateRate = 0;
        options.ValidationFraction = 0;
        var model = ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(32)));
        var classifier = Classifier(model);
        try
        {
            Assert.Equal(lm.Model.Config.ToJson(), classifier.Model.Backbone.Config.ToJson());
            Assert.Equal(lm.Tokenizer.Serialize(), classifier.Tokenizer.Serialize());
            var expected = lm.Model.state_dict();
            foreach (var (name, tensor) in classifier.Model.Backbone.state_dict())
            {
                using var difference = (tensor.cpu() - expected[name].cpu()).abs().max();
                Assert.True(difference.item<float>() < 1e-6, $"{name} moved by {difference.item<float>()}");
            }
        }
        finally
        {
            classifier.Dispose();
            lm.Dispose();
        }
    }

    [Fact]
    public void AZipWithoutALanguageModelOrAMissingFileIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var verses = ml.Data.LoadFromEnumerable(PipelineTestData.Verses(5));
        var tokenizing = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Fit(verses);
        string path = Path.Combine(TestPaths.NewTempDirectory(), "tokens-only.zip");
        ml.Model.Save(tokenizing, verses.Schema, path);
        var options = Options(epochs: 1);
        options.LanguageModelPath = path;
        var data = ml.Data.LoadFromEnumerable(Reviews(16));
        var error = Assert.Throws<InvalidDataException>(() => ClassifierPipeline(ml, options).Fit(data));
        Assert.Contains("no MoE language model", error.Message);
        options.LanguageModelPath = path + ".missing";
        Assert.Throws<FileNotFoundException>(() => ClassifierPipeline(ml, options).Fit(data));
    }

    [Fact]
    public void AHuggingFaceCheckpointLoadsAndItsVocabularyIsCheckedAgainstTheTokenizer()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(epochs: 1);
        options.HuggingFaceCheckpointDirectory = TestPaths.HuggingFaceFixture;
        var data = ml.Data.LoadFromEnumerable(Reviews(16));
        var noTokenizer = Assert.Throws<FileNotFoundException>(() => ClassifierPipeline(ml, options).Fit(data));
        Assert.Contains("tokenizer.json", noTokenizer.Message);
        // The fixture's 128-id vocabulary cannot hold the byte-level tokenizer's 257 ids.
        options.Tokenizer = MLNet.MoE.MoeTokenizer.ByteLevel();
        var vocabulary = Assert.Throws<ArgumentOutOfRangeException>(() => ClassifierPipeline(ml, options).Fit(data));
        Assert.Contains("vocab_size 128", vocabulary.Message);
    }

    [Fact]
    public void AnInitialModelIsCopiedNotChanged()
    {
        var ml = new MLContext(seed: 1);
        using var initial = new MLNet.MoE.MoeCausalLM(TinyConfig, seed: 11);
        using var before = initial.state_dict()["model.embed_tokens.weight"].clone();
        var options = Options(epochs: 1);
        options.Model = null;
        options.InitialModel = LanguageModelTransformer.Over(initial, MoeTokenizer.ByteLevel());
        var model = ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(32)));
        var classifier = Classifier(model);
        try
        {
            Assert.True(before.allclose(initial.state_dict()["model.embed_tokens.weight"], rtol: 0, atol: 0));
            Assert.False(before.allclose(classifier.Model.Backbone.state_dict()["model.embed_tokens.weight"].cpu(), rtol: 0, atol: 0));
        }
        finally
        {
            classifier.Dispose();
        }
    }
}
