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
        options.Lora = new LoraOptions { Rank = 4, Alpha = 8, TargetModules = targets ?? LoraOptions.AttentionAndExperts.ToList() };
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
        Assert.Equal(new[] { "gate_up_proj", "down_proj" }, config["target_parameters"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(8, config["rank_pattern"]![".*\\.gate_up_proj"]!.GetValue<int>());
        // Without TrainRouter or TrainNorms nothing is trained in full: no modules_to_save.
        Assert.Null(config["modules_to_save"]);
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "adapter_model.safetensors")))
        {
            Assert.Contains("base_model.model.model.layers.0.self_attn.q_a_proj.lora_A.weight", file.Tensors.Keys);
            Assert.Equal(new long[] { 4, 32 }, file.Tensors["base_model.model.model.layers.0.self_attn.q_a_proj.lora_A.weight"].Shape);
            // Routed experts in PEFT's ParamWrapper layout: gate_up_proj (rank 2r) as base_layer, down_proj outside it.
            Assert.Equal(new long[] { 4 * 8, 32 }, file.Tensors["base_model.model.model.layers.1.mlp.experts.base_layer.lora_A.weight"].Shape);
            Assert.Equal(new long[] { 32, 8 * 4 }, file.Tensors["base_model.model.model.layers.1.mlp.experts.base_layer.lora_B.weight"].Shape);
            Assert.Equal(new long[] { 4 * 4, 16 }, file.Tensors["base_model.model.model.layers.1.mlp.experts.lora_A.weight"].Shape);
            Assert.Equal(new long[] { 32, 4 * 4 }, file.Tensors["base_model.model.model.layers.1.mlp.experts.lora_B.weight"].Shape);
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
    public void MergingABfloat16BaseKeepsItsTypeAndDeviceAndSavesBfloat16()
    {
        string checkpoint = TestPaths.NewTempDirectory();
        using (var model = new MoeCausalLM(SmallConfig with { VocabSize = MoeTokenizer.ByteLevel().VocabularySize }, seed: 9))
            HuggingFaceCheckpoint.Save(model, checkpoint, ScalarType.BFloat16);
        var ml = new MLContext(seed: 1);
        var baseModel = ml.MoE().LoadHuggingFace(checkpoint, MoeTokenizer.ByteLevel(), promptColumnName: "Text", contextLength: 32, weightType: ModelWeightType.BFloat16);
        var options = Options(steps: 2);
        options.Model = null;
        options.InitialModel = baseModel;
        options.Lora = new LoraOptions { Rank = 4, Alpha = 8 };
        options.LearningRate = 1e-2;
        var tuned = Train(ml, ml.Data.LoadFromEnumerable(Verses(30)), options).LastTransformer;

        var merged = ml.MoE().MergeLoraAdapters(tuned);
        Assert.Equal(ScalarType.BFloat16, merged.Model.WeightType);
        Assert.Equal(baseModel.Model.Device.type, merged.Model.Device.type);
        var baseState = baseModel.Model.state_dict();
        var mergedState = merged.Model.state_dict();
        // Each adapted weight is the base's plus α/r·B·A computed in float32, rounded to bfloat16 once.
        var (gateUpDelta, _) = tuned.Adapters!.For(baseModel.Model.Layers[1].Moe!.Experts)!.MergedDelta();
        var expectedGateUp = (baseState["model.layers.1.mlp.experts.gate_up_proj"].to(ScalarType.Float32) + gateUpDelta).to(ScalarType.BFloat16);
        Assert.True(mergedState["model.layers.1.mlp.experts.gate_up_proj"].eq(expectedGateUp).all().item<bool>());
        // Weights no adapter touches are the base's, bit for bit.
        Assert.True(mergedState["model.embed_tokens.weight"].eq(baseState["model.embed_tokens.weight"]).all().item<bool>());

        string folder = TestPaths.NewTempDirectory();
        ml.MoE().SaveHuggingFace(tuned, folder);
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors")))
            Assert.Equal("BF16", file.Tensors["model.layers.1.mlp.experts.0.gate_proj.weight"].DType);
        var reloaded = ml.MoE().LoadHuggingFace(folder, contextLength: 32, weightType: ModelWeightType.BFloat16);
        Assert.Equal(Logits(merged), Logits(reloaded));
    }

    [Fact]
    public void ExportOnnxWritesTheMergedModelThatOnnxRuntimeScoresAlike()
    {
        var (ml, _, tuned) = TrainAdapters();
        string folder = TestPaths.NewTempDirectory();
        ml.MoE().ExportOnnx(tuned, folder);
        var onnx = new MLContext(seed: 1).MoeOnnx().LoadLanguageModel(folder);
        var expected = Logits(tuned);
        var actual = onnx.Logits(new[] { 10, 20, 30, 40, 50, 60 });
        Assert.Equal(expected.Length, actual.Length);
        Assert.All(expected.Zip(actual), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-3, $"{p.First} vs {p.Second}"));
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
    public void DenseAndSharedMlpAdaptersAreNotWrittenInPeftsFormat()
    {
        var (ml, _, tuned) = TrainAdapters(new List<string> { "o_proj", "gate_proj" });
        var error = Assert.Throws<NotSupportedException>(() => ml.MoE().SaveLoraAdapters(tuned, TestPaths.NewTempDirectory()));
        Assert.Contains("gate_proj", error.Message, StringComparison.Ordinal);
        Assert.Contains("SaveHuggingFace", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("peft-lora")]
    [InlineData("peft-lora-modules-to-save")]
    public void AdaptersThatPeftMadeReproducePeftsLogits(string fixture)
    {
        // Made by PEFT 0.21.0 on transformers 5.17 (tools/gpu/peft_parity.py): rank 4, α 8, both factors random, on
        // the attention projections and the fused routed experts of data/deepseek-v3-tiny-a; float32 logits recorded.
        // The second also trains the routers and norms in full (PEFT's modules_to_save, with perturbed copies).
        string folder = Path.Combine(TestPaths.RepositoryRoot, "tests", "MLNet.MoE.Tests", "TestData", fixture);
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "expected.json")));
        long[][] ids = expected.RootElement.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        float[] reference = expected.RootElement.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        using var model = HuggingFaceCheckpoint.Load(TestPaths.HuggingFaceFixture);
        using var adapters = PeftAdapterFiles.Load(model, folder);
        Assert.Contains("model.layers.1.mlp.experts", adapters.AdaptedModules);
        Assert.Equal(fixture.EndsWith("modules-to-save", StringComparison.Ordinal), adapters.TrainedModules.Contains("model.layers.1.mlp.gate"));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var context = new ForwardContext { Adapters = adapters };
        float[] logits = model.Forward(torch.tensor(ids.SelectMany(r => r).ToArray(), new long[] { ids.Length, ids[0].Length }), context).contiguous().data<float>().ToArray();
        Assert.Equal(reference.Length, logits.Length);
        double difference = logits.Zip(reference, (a, b) => (double)Math.Abs(a - b)).Max();
        Assert.True(difference < 1e-4, $"max |logit difference| {difference:G3}");
        // Without the adapters the logits are far from PEFT's: the comparison is not vacuous.
        using var plain = new ForwardContext();
        float[] unadapted = model.Forward(torch.tensor(ids.SelectMany(r => r).ToArray(), new long[] { ids.Length, ids[0].Length }), plain).contiguous().data<float>().ToArray();
        Assert.True(unadapted.Zip(reference, (a, b) => (double)Math.Abs(a - b)).Max() > 1e-2);

        // Written back in PEFT's format, the factors are the same tensors under the same keys.
        string again = TestPaths.NewTempDirectory();
        PeftAdapterFiles.Save(adapters, model.Config, again);
        using var theirs = SafeTensorsFile.Open(Path.Combine(folder, "adapter_model.safetensors"));
        using var ours = SafeTensorsFile.Open(Path.Combine(again, "adapter_model.safetensors"));
        Assert.Equal(theirs.Tensors.Keys.Order(), ours.Tensors.Keys.Order());
        foreach (string key in theirs.Tensors.Keys)
            Assert.True(TensorAssert.Same(theirs.ReadTensor(key), ours.ReadTensor(key)), key);
    }
}
