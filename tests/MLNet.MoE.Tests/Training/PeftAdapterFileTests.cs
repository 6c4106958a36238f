using System.Text.Json.Nodes;
using Microsoft.ML;
using TorchSharp;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Training;

/// <summary>LoRA adapters in PEFT's folder format: what is written, the round trip, merging, and what is refused.</summary>
public class PeftAdapterFileTests
{
    private static (MLContext Ml, LanguageModelTransformer Base, LanguageModelTransformer Tuned) TrainAdapters(IList<string>? targets = null)
    {
        string checkpoint = TestPaths.NewTempDirectory();
        using (var model = new MoeCausalLM(SmallConfig with { VocabSize = MoeTokenizer.ByteLevel().VocabularySize }, seed: 9))
            HuggingFaceCheckpoint.Save(model, checkpoint);
        var ml = new MLContext(seed: 1);
        var baseModel = ml.MoE().LoadHuggingFace(checkpoint, MoeTokenizer.ByteLevel(), promptColumnName: "Text", contextLength: 32);
        var options = Options(steps: 3);
        options.Model = null;
        options.InitialModel = baseModel;
        options.Lora = new LoraOptions { Rank = 4, Alpha = 8, TargetModules = targets ?? LoraOptions.AttentionAndMlpModules.ToList() };
        options.LearningRate = 1e-2;
        var tuned = Train(ml, ml.Data.LoadFromEnumerable(Verses(30)), options).LastTransformer;
        return (ml, baseModel, tuned);
    }

    private static float[] Logits(LanguageModelTransformer model) => model.Logits(new[] { 10, 20, 30, 40, 50, 60 });

    [Fact]
    public void SavedAdaptersHavePeftsKeysAndConfigAndLoadBackToTheSameFunction()
    {
        var (ml, baseModel, tuned) = TrainAdapters();
        string folder = TestPaths.NewTempDirectory();
        ml.MoE().SaveLoraAdapters(tuned, folder);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "adapter_config.json")))!.AsObject();
        Assert.Equal("LORA", config["peft_type"]!.GetValue<string>());
        Assert.Equal(4, config["r"]!.GetValue<int>());
        Assert.Equal(8.0, config["lora_alpha"]!.GetValue<double>());
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "adapter_model.safetensors")))
        {
            Assert.Contains("base_model.model.model.layers.0.self_attn.q_a_proj.lora_A.weight", file.Tensors.Keys);
            Assert.Contains("base_model.model.model.layers.1.mlp.shared_experts.down_proj.lora_B.weight", file.Tensors.Keys);
            Assert.Equal(new long[] { 4, 32 }, file.Tensors["base_model.model.model.layers.0.self_attn.q_a_proj.lora_A.weight"].Shape);
            Assert.All(file.Tensors.Values, t => Assert.Equal("F32", t.DType));
            Assert.Equal(Convert.ToHexStringLower(tuned.Adapters!.BaseDigest), file.Metadata[PeftAdapterFiles.BaseDigestKey]);
        }

        var reloaded = ml.MoE().LoadLoraAdapters(baseModel, folder);
        Assert.Same(baseModel.Model, reloaded.Model);
        Assert.Equal(Logits(tuned), Logits(reloaded));
        Assert.NotEqual(Logits(baseModel), Logits(reloaded));

        // Merged weights compute the same function (float32 arithmetic, reassociated).
        var merged = ml.MoE().MergeLoraAdapters(tuned);
        Assert.Null(merged.Adapters);
        var expected = Logits(tuned);
        var actual = Logits(merged);
        Assert.All(expected.Zip(actual), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-4, $"{p.First} vs {p.Second}"));
    }

    [Fact]
    public void SaveHuggingFaceWritesTheMergedModel()
    {
        var (ml, _, tuned) = TrainAdapters();
        string folder = TestPaths.NewTempDirectory();
        ml.MoE().SaveHuggingFace(tuned, folder);
        var reloaded = ml.MoE().LoadHuggingFace(folder, contextLength: 32);
        var expected = Logits(tuned);
        Assert.All(expected.Zip(Logits(reloaded)), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-4, $"{p.First} vs {p.Second}"));
    }

    [Fact]
    public void AdaptersAreRefusedOnAnotherBaseAndForPeftFeaturesNotApplied()
    {
        var (ml, _, tuned) = TrainAdapters();
        string folder = TestPaths.NewTempDirectory();
        ml.MoE().SaveLoraAdapters(tuned, folder);

        string other = TestPaths.NewTempDirectory();
        using (var model = new MoeCausalLM(SmallConfig with { VocabSize = MoeTokenizer.ByteLevel().VocabularySize }, seed: 10))
            HuggingFaceCheckpoint.Save(model, other);
        var otherBase = ml.MoE().LoadHuggingFace(other, MoeTokenizer.ByteLevel(), contextLength: 32);
        var mismatch = Assert.Throws<InvalidDataException>(() => ml.MoE().LoadLoraAdapters(otherBase, folder));
        Assert.Contains("other base weights", mismatch.Message, StringComparison.Ordinal);

        string configPath = Path.Combine(folder, "adapter_config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["use_dora"] = true;
        File.WriteAllText(configPath, config.ToJsonString());
        var dora = Assert.Throws<InvalidDataException>(() => ml.MoE().LoadLoraAdapters(otherBase, folder));
        Assert.Contains("use_dora", dora.Message, StringComparison.Ordinal);

        Assert.Throws<ArgumentException>(() => ml.MoE().SaveLoraAdapters(otherBase, TestPaths.NewTempDirectory()));
        Assert.Throws<FileNotFoundException>(() => ml.MoE().LoadLoraAdapters(otherBase, TestPaths.NewTempDirectory()));
    }

    [Fact]
    public void RoutedExpertAdaptersAreNotWrittenInPeftsFormat()
    {
        var (ml, _, tuned) = TrainAdapters(new List<string> { "o_proj", "experts" });
        var error = Assert.Throws<NotSupportedException>(() => ml.MoE().SaveLoraAdapters(tuned, TestPaths.NewTempDirectory()));
        Assert.Contains("SaveHuggingFace", error.Message, StringComparison.Ordinal);
    }
}
