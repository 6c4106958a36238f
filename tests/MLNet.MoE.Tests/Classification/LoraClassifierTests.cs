using Microsoft.ML;
using MLNet.MoE.Tests.Pipeline;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>The text classifier fine-tunes an imported checkpoint's backbone with LoRA, then merges the adapters.</summary>
public class LoraClassifierTests
{
    /// <summary>Two-epoch classifier options that fine-tune a freshly saved checkpoint (its folder returned) with <paramref name="lora"/>.</summary>
    private static (MLContext Ml, MoeTextClassificationOptions Options, string Checkpoint) LoraOnImportedCheckpoint(LoraOptions lora)
    {
        string checkpoint = TestPaths.NewTempDirectory();
        using (var model = new MoeCausalLM(PipelineTestData.SmallConfig with { VocabSize = MoeTokenizer.ByteLevel().VocabularySize, NumNextnPredictLayers = 0 }, seed: 9))
            HuggingFaceCheckpoint.Save(model, checkpoint);
        var options = Options(epochs: 2);
        options.Model = null;
        options.HuggingFaceCheckpointDirectory = checkpoint;
        options.Tokenizer = MoeTokenizer.ByteLevel();
        options.Lora = lora;
        options.LearningRate = 1e-2;
        return (new MLContext(seed: 1), options, checkpoint);
    }

    [Fact]
    public void TheBackboneMovesOnlyByTheMergedAdaptersAndTheClassifierSavesAsAnyOther()
    {
        var (ml, options, checkpoint) = LoraOnImportedCheckpoint(new LoraOptions { Rank = 4, Alpha = 8 });
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
    public void TrainedRouterAndNormCopiesAreTrainingStateAndMergeIntoTheBackbone()
    {
        var (ml, options, checkpoint) = LoraOnImportedCheckpoint(new LoraOptions { Rank = 4, Alpha = 8, TrainRouter = true, TrainNorms = true });
        var classifier = Classifier(ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(48))));
        Assert.Null(classifier.Model.Adapters);

        using var original = HuggingFaceCheckpoint.Load(checkpoint);
        var initial = original.state_dict();
        var backbone = classifier.Model.Backbone.state_dict();
        // The trained copies were merged over the backbone's router and norms; untargeted weights did not move.
        foreach (string trained in new[] { "model.layers.1.mlp.gate.weight", "model.layers.0.input_layernorm.weight", "model.layers.1.self_attn.kv_a_layernorm.weight" })
            Assert.False(TensorAssert.Same(initial[trained], backbone[trained]), trained);
        foreach (string frozen in new[] { "model.embed_tokens.weight", "model.layers.1.mlp.shared_experts.up_proj.weight", "model.layers.0.mlp.down_proj.weight" })
            Assert.True(TensorAssert.Same(initial[frozen], backbone[frozen]), frozen);

        // While attached, the copies are part of what checkpoints hold and what the optimizer updates.
        using var fresh = new MoeTextClassifier(HuggingFaceCheckpoint.Load(checkpoint), classCount: 2, TextPooling.Mean);
        fresh.AttachAdapters(LoraAdapters.Create(fresh.Backbone, new LoraOptions { Rank = 2, TrainRouter = true, TrainNorms = true }, seed: 1, "Lora"));
        var state = fresh.TrainingState();
        Assert.Contains("lora.model.layers.1.mlp.gate.weight", state.Keys);
        Assert.Contains("lora.model.norm.weight", state.Keys);
        var updated = fresh.OptimizerGroups(0.01, 1.0).SelectMany(g => g.Parameters).ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.Contains(state["lora.model.norm.weight"], updated);
        Assert.Contains(state["lora.model.layers.1.mlp.gate.weight"], updated);
        Assert.DoesNotContain(fresh.Backbone.state_dict()["model.norm.weight"], updated);
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
