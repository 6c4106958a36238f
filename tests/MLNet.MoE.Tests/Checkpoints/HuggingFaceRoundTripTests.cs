using System.Text.Json.Nodes;
using MLNet.MoE.Tests.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>Export then import of random models over the architecture's switches.</summary>
public class HuggingFaceRoundTripTests
{
    public static TheoryData<string> ConfigNames => new()
    {
        "no-q-lora", "four-groups", "two-dense-layers", "two-shared-experts", "no-shared-experts", "yarn",
        "rope-not-interleaved", "attention-bias", "softmax-group-limited", "softmax-greedy", "mtp",
    };

    [Theory]
    [MemberData(nameof(ConfigNames))]
    public void Float32ExportThenImportKeepsEveryTensorAndTheLogitsBitForBit(string configName)
    {
        var config = SmallModels.Named(configName);
        using var folder = new TempFolder();
        using var scope = torch.NewDisposeScope();
        using var model = SmallModels.RandomModel(config);
        HuggingFaceCheckpoint.Save(model, folder.Path);
        using var reloaded = HuggingFaceCheckpoint.Load(folder.Path);

        Assert.Equal(config with { ExtraFields = reloaded.Config.ExtraFields }, reloaded.Config);
        var before = model.state_dict();
        var after = reloaded.state_dict();
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, tensor) in before)
        {
            Assert.True(TensorAssert.Same(tensor, after[name]), $"tensor '{name}' changed in the round trip");
        }
        var ids = SmallModels.RandomIds(config, 2, 9);
        Assert.True(TensorAssert.Same(SmallModels.Logits(model, ids), SmallModels.Logits(reloaded, ids)), "logits changed in the round trip");
    }

    [Theory]
    [MemberData(nameof(ConfigNames))]
    public void TheFileHoldsExactlyTheKeysAndShapesFileTensorShapesLists(string configName)
    {
        var config = SmallModels.Named(configName);
        using var folder = new TempFolder();
        using var model = SmallModels.RandomModel(config);
        HuggingFaceCheckpoint.Save(model, folder.Path);
        using var file = SafeTensorsFile.Open(Path.Combine(folder.Path, CheckpointTensorSource.SingleFileName));
        var expected = HuggingFaceCheckpoint.FileTensorShapes(config);
        Assert.Equal(expected.Select(e => e.Name), file.Tensors.Keys);
        foreach (var (name, shape) in expected) Assert.Equal(shape, file.Tensors[name].Shape);
        Assert.All(file.Tensors.Values, t => Assert.Equal("F32", t.DType));
        if (config.NumNextnPredictLayers > 0)
        {
            // DeepSeek's layout: the MTP module carries its own copies of the embedding and the output head.
            int mtp = config.NumHiddenLayers;
            using var embedding = file.ReadTensor("model.embed_tokens.weight");
            using var embeddingCopy = file.ReadTensor($"model.layers.{mtp}.embed_tokens.weight");
            using var head = file.ReadTensor("lm_head.weight");
            using var headCopy = file.ReadTensor($"model.layers.{mtp}.shared_head.head.weight");
            Assert.True(TensorAssert.Same(embedding, embeddingCopy));
            Assert.True(TensorAssert.Same(head, headCopy));
        }
    }

    [Theory]
    [InlineData("base", ScalarType.BFloat16, "BF16", "bfloat16")]
    [InlineData("mtp", ScalarType.BFloat16, "BF16", "bfloat16")]
    [InlineData("base", ScalarType.Float16, "F16", "float16")]
    public void HalfPrecisionExportLoadsTheWeightsRoundedThroughThatType(string configName, ScalarType storeAs, string fileDType, string configDType)
    {
        var config = SmallModels.Named(configName);
        using var folder = new TempFolder();
        using var scope = torch.NewDisposeScope();
        using var model = SmallModels.RandomModel(config);
        HuggingFaceCheckpoint.Save(model, folder.Path, storeAs);
        using (var file = SafeTensorsFile.Open(Path.Combine(folder.Path, CheckpointTensorSource.SingleFileName)))
        {
            Assert.All(file.Tensors.Values, t => Assert.Equal(fileDType, t.DType));
        }
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder.Path, HuggingFaceCheckpoint.ConfigFileName)))!;
        Assert.Equal(configDType, json["dtype"]!.GetValue<string>());

        using var reloaded = HuggingFaceCheckpoint.Load(folder.Path);
        var after = reloaded.state_dict();
        int changed = 0;
        foreach (var (name, tensor) in model.state_dict())
        {
            var rounded = tensor.to(storeAs).to(ScalarType.Float32);
            Assert.True(TensorAssert.Same(rounded, after[name]), $"tensor '{name}' is not the original rounded through {storeAs}");
            if (!TensorAssert.Same(tensor, after[name])) changed++;
        }
        Assert.True(changed > 0, "rounding changed no tensor: the test would not see a lossless export");
    }

    [Fact]
    public void ShardedExportWritesAnIndexAndImportsToTheSameLogits()
    {
        var config = SmallModels.Named("mtp");
        using var folder = new TempFolder();
        using var scope = torch.NewDisposeScope();
        using var model = SmallModels.RandomModel(config);
        HuggingFaceCheckpoint.Save(model, folder.Path, maxShardBytes: 16 * 1024);
        string[] shards = folder.FileNames().Where(f => f.StartsWith("model-", StringComparison.Ordinal)).ToArray();
        Assert.True(shards.Length > 3, $"expected several shards, got {shards.Length}");
        Assert.Contains(CheckpointTensorSource.IndexFileName, folder.FileNames());
        Assert.DoesNotContain(CheckpointTensorSource.SingleFileName, folder.FileNames());

        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(folder.Path, CheckpointTensorSource.IndexFileName)))!;
        var mapped = index["weight_map"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal);
        Assert.Equal(HuggingFaceCheckpoint.FileTensorShapes(config).Select(t => t.Name).Order(StringComparer.Ordinal), mapped);

        using var reloaded = HuggingFaceCheckpoint.Load(folder.Path);
        var after = reloaded.state_dict();
        foreach (var (name, tensor) in model.state_dict())
        {
            Assert.True(TensorAssert.Same(tensor, after[name]), $"tensor '{name}' changed in the sharded round trip");
        }
        var ids = SmallModels.RandomIds(config, 1, 12);
        Assert.True(TensorAssert.Same(SmallModels.Logits(model, ids), SmallModels.Logits(reloaded, ids)));
    }

    [Fact]
    public void ExtraConfigFieldsSurviveTheRoundTrip()
    {
        var config = SmallModels.Base with
        {
            ExtraFields = new Dictionary<string, JsonNode?> { ["aux_loss_alpha"] = 0.001, ["attention_dropout"] = 0.25 },
        };
        using var folder = new TempFolder();
        using var model = SmallModels.RandomModel(config);
        HuggingFaceCheckpoint.Save(model, folder.Path);
        using var reloaded = HuggingFaceCheckpoint.Load(folder.Path);
        Assert.Equal(0.001, reloaded.Config.ExtraFields["aux_loss_alpha"]!.GetValue<double>());
        Assert.Equal(0.25, reloaded.Config.ExtraFields["attention_dropout"]!.GetValue<double>());
        Assert.Equal("float32", reloaded.Config.ExtraFields["dtype"]!.GetValue<string>());
    }
}
