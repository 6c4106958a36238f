using Microsoft.ML;
using MLNet.MoE.Tests.Pipeline;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>The text classifier fine-tunes an imported checkpoint's backbone with LoRA, then merges the adapters.</summary>
public class LoraClassifierTests
{
    [Fact]
    public void TheBackboneMovesOnlyByTheMergedAdaptersAndTheClassifierSavesAsAnyOther()
    {
        string checkpoint = TestPaths.NewTempDirectory();
        using (var model = new MoeCausalLM(PipelineTestData.SmallConfig with { VocabSize = MoeTokenizer.ByteLevel().VocabularySize, NumNextnPredictLayers = 0 }, seed: 9))
            HuggingFaceCheckpoint.Save(model, checkpoint);
        var ml = new MLContext(seed: 1);
        var options = Options(epochs: 2);
        options.Model = null;
        options.HuggingFaceCheckpointDirectory = checkpoint;
        options.Tokenizer = MoeTokenizer.ByteLevel();
        options.Lora = new LoraOptions { Rank = 4, Alpha = 8 };
        options.LearningRate = 1e-2;
        var data = ml.Data.LoadFromEnumerable(Reviews(48));
        var trained = ClassifierPipeline(ml, options).Fit(data);
        var classifier = Classifier(trained);
        Assert.Null(classifier.Model.Adapters);

        using var original = HuggingFaceCheckpoint.Load(checkpoint);
        var backbone = classifier.Model.Backbone.state_dict();
        var initial = original.state_dict();
        // Adapted projections and routed experts moved (their merged B·A); norms, router, embeddings and MLPs did not.
        Assert.False(TensorAssert.Same(initial["model.layers.0.self_attn.o_proj.weight"], backbone["model.layers.0.self_attn.o_proj.weight"]));
        Assert.False(TensorAssert.Same(initial["model.layers.1.mlp.experts.gate_up_proj"], backbone["model.layers.1.mlp.experts.gate_up_proj"]));
        foreach (string frozen in new[] { "model.embed_tokens.weight", "model.layers.1.mlp.gate.weight", "model.layers.1.mlp.shared_experts.up_proj.weight", "model.layers.0.mlp.down_proj.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight" })
            Assert.True(TensorAssert.Same(initial[frozen], backbone[frozen]), frozen);

        string zip = Path.Combine(TestPaths.NewTempDirectory(), "lora-classifier.zip");
        ml.Model.Save(trained, data.Schema, zip);
        var loaded = new MLContext(seed: 2).Model.Load(zip, out _);
        var before = ml.Data.CreateEnumerable<Prediction>(trained.Transform(data), reuseRowObject: false).Select(p => p.Score).ToList();
        var after = ml.Data.CreateEnumerable<Prediction>(loaded.Transform(data), reuseRowObject: false).Select(p => p.Score).ToList();
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++) Assert.Equal(before[i], after[i]);
    }

    [Fact]
    public void LoraWithoutAPretrainedBackboneIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(epochs: 1);
        options.Lora = new LoraOptions();
        var error = Assert.ThrowsAny<ArgumentException>(() => ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(8))));
        Assert.Contains("Lora", error.Message, StringComparison.Ordinal);
    }

    private sealed class Prediction
    {
        public float[] Score { get; set; } = Array.Empty<float>();
    }
}
