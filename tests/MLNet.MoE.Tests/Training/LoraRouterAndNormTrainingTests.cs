using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Tests.Pipeline;
using TorchSharp;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Training;

/// <summary>
/// LoRA runs that also train the routers and the norms in full (<see cref="LoraOptions.TrainRouter"/>,
/// <see cref="LoraOptions.TrainNorms"/>): the adapters' float32 copies train, the shared base stays bitwise untouched,
/// and merging, the model zip, PEFT's <c>modules_to_save</c> files and the checks on them.
/// </summary>
public class LoraRouterAndNormTrainingTests
{
    private static readonly string[] EveryNorm = { "input_layernorm", "post_attention_layernorm", "q_a_layernorm", "kv_a_layernorm", "model.norm" };

    private static readonly int[] Probe = { 10, 20, 30, 40, 50, 60, 70, 80 };

    private static string WriteCheckpoint(MoeModelConfig? config = null)
    {
        string directory = TestPaths.NewTempDirectory();
        using var model = new MoeCausalLM((config ?? SmallConfig) with { VocabSize = MoeTokenizer.ByteLevel().VocabularySize }, seed: 9);
        HuggingFaceCheckpoint.Save(model, directory);
        return directory;
    }

    private static LanguageModelOptions Run(LanguageModelTransformer baseModel, int steps, bool router = true, bool norms = true)
    {
        var options = Options(steps);
        options.Model = null;
        options.InitialModel = baseModel;
        options.Lora = new LoraOptions { Rank = 4, Alpha = 8, TrainRouter = router, TrainNorms = norms };
        options.LearningRate = 1e-2;
        options.ValidationFraction = 0;
        return options;
    }

    /// <summary>SHA-256 over every tensor of the model's state dict: name, type, shape and raw bytes.</summary>
    private static string StateDigest(MoeCausalLM model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, tensor) in model.state_dict())
        {
            using var cpu = tensor.detach().cpu().contiguous();
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{name}|{cpu.dtype}|{string.Join(",", cpu.shape)}\n"));
            hash.AppendData(cpu.bytes);
        }
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    private static (MLContext Ml, LanguageModelTransformer Base, TransformerChain<LanguageModelTransformer> Pipeline, IDataView Data) TrainTuned(bool router = true, bool norms = true, int steps = 6)
    {
        var ml = new MLContext(seed: 1);
        var baseModel = LanguageModelTransformer.Over(HuggingFaceCheckpoint.Load(WriteCheckpoint()), MoeTokenizer.ByteLevel());
        var data = ml.Data.LoadFromEnumerable(Verses(40));
        var pipeline = PipelineTestData.Train(ml, data, Run(baseModel, steps, router, norms));
        return (ml, baseModel, pipeline, data);
    }

    [Fact]
    public void TheRouterAndNormCopiesTrainWhileTheSharedBaseStaysBitwiseUntouched()
    {
        var ml = new MLContext(seed: 1);
        var baseModel = LanguageModelTransformer.Over(HuggingFaceCheckpoint.Load(WriteCheckpoint()), MoeTokenizer.ByteLevel());
        string before = StateDigest(baseModel.Model);
        var initial = baseModel.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var tuned = PipelineTestData.Train(ml, ml.Data.LoadFromEnumerable(Verses(40)), Run(baseModel, steps: 6)).LastTransformer;

        // The base is shared, every byte of its state (weights, norms, routers, selection biases) as it was.
        Assert.Same(baseModel.Model, tuned.Model);
        Assert.Equal(before, StateDigest(baseModel.Model));
        Assert.All(baseModel.Model.parameters(), p => Assert.False(p.requires_grad));

        var adapters = tuned.Adapters!;
        Assert.Equal(new[] { "mlp.gate" }.Concat(EveryNorm), adapters.ModulesToSave);
        // Every main block's norms, the MoE layer's router and the final norm; the multi-token-prediction layer (2) is left out.
        Assert.Equal(new[]
        {
            "model.layers.0.self_attn.q_a_layernorm", "model.layers.0.self_attn.kv_a_layernorm", "model.layers.0.input_layernorm", "model.layers.0.post_attention_layernorm",
            "model.layers.1.self_attn.q_a_layernorm", "model.layers.1.self_attn.kv_a_layernorm", "model.layers.1.mlp.gate", "model.layers.1.input_layernorm",
            "model.layers.1.post_attention_layernorm", "model.norm",
        }.Order(), adapters.TrainedModules.Order());
        var factors = adapters.NamedFactors().ToDictionary(f => f.Name, f => f.Factor);
        foreach (string module in adapters.TrainedModules)
        {
            var copy = factors[module + ".weight"];
            Assert.Equal(ScalarType.Float32, copy.dtype);
            Assert.True(copy.requires_grad, module);
            // Moved by gradient steps (AdamW's steps are about the learning rate, 1e-2), not by weight decay alone (far below 1e-3 here).
            Assert.False(TensorAssert.Close(initial[module + ".weight"], copy, 1e-3), $"{module} did not train");
        }

        // The router matrix takes weight decay, as matrices do; the norm scales do not.
        var (decay, noDecay) = adapters.ParameterGroupsForWeightDecay();
        Assert.Contains(factors["model.layers.1.mlp.gate.weight"], decay);
        Assert.Contains(factors["model.norm.weight"], noDecay);
        Assert.Equal(9, noDecay.Count);
        Assert.All(factors.Where(f => f.Key.Contains("lora_", StringComparison.Ordinal)), f => Assert.Contains(f.Value, decay));

        // The adapted model computes what its merged weights compute, and the copies matter to it.
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var ids = torch.tensor(new long[] { 5, 70, 80, 90, 33, 100, 101, 102 }, new long[] { 2, 4 });
        using var merged = tuned.Model.Copy();
        adapters.MergeInto(merged);
        using var adapted = new ForwardContext { Adapters = adapters };
        using var plain = new ForwardContext();
        var expected = merged.Forward(ids, plain);
        Assert.True(TensorAssert.Close(expected, tuned.Model.Forward(ids, adapted), 1e-5), "adapted logits differ from the merged model's");
        Assert.True(TensorAssert.Same(factors["model.layers.0.input_layernorm.weight"], merged.state_dict()["model.layers.0.input_layernorm.weight"]));
        Assert.True(TensorAssert.Same(factors["model.layers.1.mlp.gate.weight"], merged.state_dict()["model.layers.1.mlp.gate.weight"]));
        Assert.Equal(before, StateDigest(baseModel.Model));
    }

    [Fact]
    public void PassesUseTheCopiesInPlaceOfTheBasesWeightsAndGradientsReachEveryCopy()
    {
        using var model = new MoeCausalLM(SmallConfig with { VocabSize = 300 }, seed: 4);
        foreach (var parameter in model.parameters()) parameter.requires_grad_(false);
        using var adapters = LoraAdapters.Create(model, new LoraOptions { Rank = 2, Alpha = 4, TargetModules = new List<string> { "o_proj" }, TrainRouter = true, TrainNorms = true }, seed: 1, "Lora");
        using var scope = torch.NewDisposeScope();
        var ids = torch.tensor(new long[] { 5, 70, 80, 90, 33, 100, 101, 102, 7, 8, 9, 10 }, new long[] { 2, 6 });
        using (torch.no_grad())
        {
            // Fresh copies equal the base's weights (and B = 0): the function is the base's, exactly.
            using var fresh = new ForwardContext { Adapters = adapters };
            using var none = new ForwardContext();
            Assert.True(TensorAssert.Same(model.Forward(ids, none), model.Forward(ids, fresh)));
            // Copies moved far from the base: the passes follow them, as the merged model does.
            using var generator = new Generator(3);
            foreach (var (name, factor) in adapters.NamedFactors().Where(f => !f.Name.Contains("lora_", StringComparison.Ordinal)))
                factor.copy_(name.EndsWith("mlp.gate.weight", StringComparison.Ordinal) ? torch.randn(factor.shape, generator: generator) : torch.empty(factor.shape).uniform_(0.5, 1.5, generator));
            using var merged = model.Copy();
            adapters.MergeInto(merged);
            using var adapted = new ForwardContext { Adapters = adapters };
            using var plain = new ForwardContext();
            var expected = merged.Forward(ids, plain);
            Assert.True(TensorAssert.Close(expected, model.Forward(ids, adapted), 1e-5));
            Assert.False(TensorAssert.Close(expected, model.Forward(ids, plain), 1e-2));
        }
        using (var training = new ForwardContext { Adapters = adapters, Training = true })
            model.Forward(ids, training).square().mean().backward();
        foreach (var (name, factor) in adapters.NamedFactors().Where(f => !f.Name.Contains("lora_A", StringComparison.Ordinal)))
            Assert.True(factor.grad is { } grad && grad.abs().max().item<float>() > 0, $"{name} got no gradient");
        Assert.All(model.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void OnlyTheChosenKindTrainsAndTheDefaultsTrainNeither()
    {
        var (_, _, routerOnly, _) = TrainTuned(router: true, norms: false, steps: 2);
        Assert.Equal(new[] { "model.layers.1.mlp.gate" }, routerOnly.LastTransformer.Adapters!.TrainedModules);
        var (_, _, normsOnly, _) = TrainTuned(router: false, norms: true, steps: 2);
        Assert.DoesNotContain(normsOnly.LastTransformer.Adapters!.TrainedModules, m => m.EndsWith(".gate", StringComparison.Ordinal));
        var (_, _, neither, _) = TrainTuned(router: false, norms: false, steps: 2);
        Assert.Empty(neither.LastTransformer.Adapters!.TrainedModules);
        Assert.Empty(neither.LastTransformer.Adapters!.ModulesToSave);
        Assert.DoesNotContain(neither.LastTransformer.Adapters!.NamedFactors(), f => !f.Name.Contains("lora_", StringComparison.Ordinal));
    }

    [Fact]
    public void TheModelZipKeepsTheTrainedCopiesInAdaptersFormat2AndDefaultsStayInFormat1()
    {
        var (ml, _, pipeline, data) = TrainTuned();
        var tuned = pipeline.LastTransformer;
        string zip = Path.Combine(TestPaths.NewTempDirectory(), "lora-router-norms.zip");
        ml.MoE().SaveModel(pipeline, data.Schema, zip);
        var loaded = (TransformerChain<ITransformer>)new MLContext(seed: 2).Model.Load(zip, out _);
        var reloaded = (LanguageModelTransformer)loaded.LastTransformer;
        Assert.Equal(tuned.Adapters!.TrainedModules, reloaded.Adapters!.TrainedModules);
        Assert.Equal(tuned.Logits(Probe), reloaded.Logits(Probe));

        static int FormatOf(LoraAdapters adapters)
        {
            using var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) LoraAdaptersFormat.Write(writer, adapters);
            return BitConverter.ToInt32(stream.ToArray(), 4);
        }
        Assert.Equal(2, FormatOf(tuned.Adapters!));
        var (_, _, plain, _) = TrainTuned(router: false, norms: false, steps: 2);
        Assert.Equal(1, FormatOf(plain.LastTransformer.Adapters!));
    }

    [Fact]
    public void PeftsModulesToSaveFilesHoldTheCopiesAndTheRoutersBiasAndLoadBackToTheSameFunction()
    {
        var (ml, baseModel, pipeline, _) = TrainTuned();
        var tuned = pipeline.LastTransformer;
        string folder = TestPaths.NewTempDirectory();
        ml.MoE().SaveLoraAdapters(tuned, folder);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "adapter_config.json")))!.AsObject();
        Assert.Equal(new[] { "mlp.gate" }.Concat(EveryNorm), config["modules_to_save"]!.AsArray().Select(n => n!.GetValue<string>()));
        var factors = tuned.Adapters!.NamedFactors().ToDictionary(f => f.Name, f => f.Factor);
        var bases = baseModel.Model.state_dict();
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, "adapter_model.safetensors")))
        {
            foreach (string name in new[] { "model.layers.0.input_layernorm.weight", "model.layers.1.self_attn.kv_a_layernorm.weight", "model.layers.1.mlp.gate.weight", "model.norm.weight" })
                Assert.True(TensorAssert.Same(factors[name].detach(), file.ReadTensor("base_model.model." + name)), name);
            // The router's whole state, as PEFT's ModulesToSaveWrapper saves it: the selection bias too, the base's.
            const string bias = "model.layers.1.mlp.gate.e_score_correction_bias";
            Assert.True(TensorAssert.Same(bases[bias], file.ReadTensor("base_model.model." + bias)));
            Assert.DoesNotContain(file.Tensors.Keys, k => k.Contains("layers.2.", StringComparison.Ordinal));
        }

        var reloaded = ml.MoE().LoadLoraAdapters(baseModel, folder);
        Assert.Same(baseModel.Model, reloaded.Model);
        Assert.Equal(tuned.Adapters!.TrainedModules, reloaded.Adapters!.TrainedModules);
        Assert.Equal(tuned.Logits(Probe), reloaded.Logits(Probe));

        // PEFT matches modules_to_save by suffix: "gate" and "norm" name the same modules as the names written.
        string configPath = Path.Combine(folder, "adapter_config.json");
        config["modules_to_save"] = new JsonArray("gate", "norm");
        File.WriteAllText(configPath, config.ToJsonString());
        var shortNames = ml.MoE().LoadLoraAdapters(baseModel, folder);
        Assert.Equal(tuned.Adapters!.TrainedModules, shortNames.Adapters!.TrainedModules);
        Assert.Equal(tuned.Logits(Probe), shortNames.Logits(Probe));

        var merged = ml.MoE().MergeLoraAdapters(tuned);
        Assert.All(tuned.Logits(Probe).Zip(merged.Logits(Probe)), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-5, $"{p.First} vs {p.Second}"));
    }

    [Fact]
    public void ModulesToSaveOtherThanRoutersAndNormsAChangedBiasOrAMissingWeightAreRefusedByName()
    {
        var (ml, baseModel, pipeline, _) = TrainTuned(steps: 2);
        string folder = TestPaths.NewTempDirectory();
        ml.MoE().SaveLoraAdapters(pipeline.LastTransformer, folder);
        string configPath = Path.Combine(folder, "adapter_config.json");
        string weightsPath = Path.Combine(folder, "adapter_model.safetensors");
        string original = File.ReadAllText(configPath);

        void WithModules(params string[] modules)
        {
            var config = JsonNode.Parse(original)!.AsObject();
            config["modules_to_save"] = new JsonArray(modules.Select(m => (JsonNode?)m).ToArray());
            File.WriteAllText(configPath, config.ToJsonString());
        }
        WithModules("mlp.gate", "lm_head");
        var head = Assert.Throws<InvalidDataException>(() => ml.MoE().LoadLoraAdapters(baseModel, folder));
        Assert.Contains("'lm_head'", head.Message, StringComparison.Ordinal);
        Assert.Contains("modules_to_save", head.Message, StringComparison.Ordinal);
        WithModules("embed_tokens");
        Assert.Contains("'embed_tokens'", Assert.Throws<InvalidDataException>(() => ml.MoE().LoadLoraAdapters(baseModel, folder)).Message, StringComparison.Ordinal);
        WithModules("mlp.gate", "no_such_norm");
        Assert.Contains("'no_such_norm'", Assert.Throws<InvalidDataException>(() => ml.MoE().LoadLoraAdapters(baseModel, folder)).Message, StringComparison.Ordinal);
        File.WriteAllText(configPath, original);

        // A router bias other than the base's is refused, naming the tensor.
        const string biasKey = "base_model.model.model.layers.1.mlp.gate.e_score_correction_bias";
        var tensors = new List<KeyValuePair<string, Tensor>>();
        Dictionary<string, string> metadata;
        using (var file = SafeTensorsFile.Open(weightsPath))
        {
            metadata = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
            foreach (string key in file.Tensors.Keys) tensors.Add(new(key, file.ReadTensor(key)));
        }
        void Rewrite(IEnumerable<KeyValuePair<string, Tensor>> content) => SafeTensorsWriter.Write(weightsPath, content, metadata, ScalarType.Float32);
        Rewrite(tensors.Select(kv => kv.Key == biasKey ? new KeyValuePair<string, Tensor>(kv.Key, kv.Value + 0.25f) : kv));
        var bias = Assert.Throws<InvalidDataException>(() => ml.MoE().LoadLoraAdapters(baseModel, folder));
        Assert.Contains(biasKey, bias.Message, StringComparison.Ordinal);

        // A trained weight the config announces but the file lacks is refused, naming it.
        Rewrite(tensors.Where(kv => kv.Key != "base_model.model.model.norm.weight"));
        var missing = Assert.Throws<InvalidDataException>(() => ml.MoE().LoadLoraAdapters(baseModel, folder));
        Assert.Contains("model.norm.weight", missing.Message, StringComparison.Ordinal);

        // Without the bias (PEFT always writes it) the router still loads: it is the base's anyway.
        Rewrite(tensors.Where(kv => kv.Key != biasKey));
        Assert.Equal(pipeline.LastTransformer.Logits(Probe), ml.MoE().LoadLoraAdapters(baseModel, folder).Logits(Probe));
        foreach (var (_, tensor) in tensors) tensor.Dispose();
    }

    [Fact]
    public void BadOptionsAreRefusedNamingTheOption()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Verses(20));
        // Both main blocks dense (only the multi-token-prediction layer routes): no router for TrainRouter to train.
        var dense = LanguageModelTransformer.Over(HuggingFaceCheckpoint.Load(WriteCheckpoint(SmallConfig with { FirstKDenseReplace = 2 })), MoeTokenizer.ByteLevel());
        var router = Run(dense, steps: 2, router: true, norms: false);
        router.Lora!.TargetModules = new List<string> { "o_proj" };
        var error = Assert.ThrowsAny<ArgumentException>(() => PipelineTestData.Train(ml, data, router));
        Assert.Contains("LanguageModelOptions.Lora.TrainRouter", error.Message, StringComparison.Ordinal);
        Assert.Contains("no MoE layer", error.Message, StringComparison.Ordinal);
        // TrainNorms on the same model is fine.
        var norms = Run(dense, steps: 2, router: false, norms: true);
        norms.Lora!.TargetModules = new List<string> { "o_proj" };
        Assert.Contains("model.norm", PipelineTestData.Train(ml, data, norms).LastTransformer.Adapters!.TrainedModules);

        var baseModel = LanguageModelTransformer.Over(HuggingFaceCheckpoint.Load(WriteCheckpoint()), MoeTokenizer.ByteLevel());
        var normTarget = Run(baseModel, steps: 2, router: false, norms: false);
        normTarget.Lora!.TargetModules = new List<string> { "input_layernorm" };
        Assert.Contains("TrainNorms", Assert.ThrowsAny<ArgumentException>(() => PipelineTestData.Train(ml, data, normTarget)).Message, StringComparison.Ordinal);
        var gateTarget = Run(baseModel, steps: 2, router: false, norms: false);
        gateTarget.Lora!.TargetModules = new List<string> { "gate" };
        Assert.Contains("TrainRouter", Assert.ThrowsAny<ArgumentException>(() => PipelineTestData.Train(ml, data, gateTarget)).Message, StringComparison.Ordinal);
    }
}
