using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using MLNet.MoE.Tests.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>Checkpoint import of bad, unusual and alternative inputs: every refusal names what is wrong and where.</summary>
public class HuggingFaceCheckpointInputTests
{
    private static string WeightsPath(TempFolder folder) => Path.Combine(folder.Path, CheckpointTensorSource.SingleFileName);

    private static string ConfigPath(TempFolder folder) => Path.Combine(folder.Path, HuggingFaceCheckpoint.ConfigFileName);

    /// <summary>Saves a random model and returns it (the caller disposes it).</summary>
    private static MoeCausalLM SaveRandom(TempFolder folder, MoeModelConfig config)
    {
        var model = SmallModels.RandomModel(config);
        HuggingFaceCheckpoint.Save(model, folder.Path);
        return model;
    }

    /// <summary>Re-writes the single weights file through <paramref name="edit"/> (name → tensor, in file order).</summary>
    private static void RewriteWeights(TempFolder folder, Func<List<KeyValuePair<string, Tensor>>, List<KeyValuePair<string, Tensor>>> edit)
    {
        using var scope = torch.NewDisposeScope();
        List<KeyValuePair<string, Tensor>> tensors;
        using (var file = SafeTensorsFile.Open(WeightsPath(folder)))
        {
            tensors = file.Tensors.Keys.Select(n => new KeyValuePair<string, Tensor>(n, file.ReadTensor(n))).ToList();
        }
        SafeTensorsWriter.Write(WeightsPath(folder), edit(tensors));
    }

    private static void EditConfig(TempFolder folder, Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(ConfigPath(folder)))!.AsObject();
        edit(json);
        File.WriteAllText(ConfigPath(folder), json.ToJsonString());
    }

    private static T LoadFails<T>(TempFolder folder) where T : Exception => Assert.Throws<T>(() => HuggingFaceCheckpoint.Load(folder.Path).Dispose());

    [Fact]
    public void AMissingTensorIsNamed()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        const string name = "model.layers.1.mlp.gate.weight";
        RewriteWeights(folder, list => list.Where(p => p.Key != name).ToList());
        var error = LoadFails<InvalidDataException>(folder);
        Assert.Contains($"missing tensor '{name}'", error.Message);
        Assert.Contains(folder.Path, error.Message);
    }

    [Fact]
    public void AMissingExpertTensorIsNamed()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        const string name = "model.layers.1.mlp.experts.5.up_proj.weight";
        RewriteWeights(folder, list => list.Where(p => p.Key != name).ToList());
        Assert.Contains($"missing tensor '{name}'", LoadFails<InvalidDataException>(folder).Message);
    }

    [Fact]
    public void AnUnexpectedTensorIsNamed()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        const string name = "model.layers.0.mlp.surplus.weight";
        RewriteWeights(folder, list => list.Append(new(name, torch.ones(3))).ToList());
        var error = LoadFails<InvalidDataException>(folder);
        Assert.Contains("tensors the config does not describe", error.Message);
        Assert.Contains(name, error.Message);
    }

    [Fact]
    public void AShapeMismatchNamesTheTensorAndBothShapes()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        const string name = "model.layers.1.self_attn.kv_b_proj.weight";
        RewriteWeights(folder, list => list.Select(p => p.Key == name ? new KeyValuePair<string, Tensor>(name, p.Value.narrow(0, 0, p.Value.shape[0] - 1)) : p).ToList());
        var config = SmallModels.Base;
        long rows = config.NumAttentionHeads * (config.QkNopeHeadDim + config.VHeadDim);
        var error = LoadFails<InvalidDataException>(folder);
        Assert.Contains($"'{name}'", error.Message);
        Assert.Contains($"[{rows - 1}, {config.KvLoraRank}]", error.Message);
        Assert.Contains($"[{rows}, {config.KvLoraRank}]", error.Message);
    }

    [Theory]
    [InlineData(ScalarType.Int32, "I32")]
    [InlineData(ScalarType.Bool, "BOOL")]
    [InlineData(ScalarType.Float64, "F64")]
    public void AWeightOfANonHalfOrSingleFloatTypeIsRefusedNotConverted(ScalarType type, string dtype)
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        const string name = "model.norm.weight";
        RewriteWeights(folder, list => list.Select(p => p.Key == name ? new KeyValuePair<string, Tensor>(name, p.Value.to(type)) : p).ToList());
        var error = LoadFails<InvalidDataException>(folder);
        Assert.Contains($"'{name}'", error.Message);
        Assert.Contains(dtype, error.Message);
    }

    [Fact]
    public void ATruncatedFileNamesTheFileAndATensorPastTheEnd()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        string path = WeightsPath(folder);
        string lastTensor;
        using (var file = SafeTensorsFile.Open(path)) lastTensor = file.Tensors.Keys.Last();
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length - 100).ToArray());
        var error = LoadFails<InvalidDataException>(folder);
        Assert.Contains(path, error.Message);
        Assert.Contains($"'{lastTensor}'", error.Message);
        Assert.Contains("outside the data area", error.Message);
    }

    [Fact]
    public void AFileCutInsideItsHeaderIsRefused()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        string path = WeightsPath(folder);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.AsSpan(0, 40).ToArray());
        var error = LoadFails<InvalidDataException>(folder);
        Assert.Contains(path, error.Message);
        Assert.Contains("header length", error.Message);
    }

    [Fact]
    public void HeaderOffsetsOutsideTheFileNameTheTensorAndField()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        string path = WeightsPath(folder);
        byte[] bytes = File.ReadAllBytes(path);
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, headerLength))!.AsObject();
        const string name = "model.layers.0.self_attn.o_proj.weight";
        var offsets = header[name]!["data_offsets"]!.AsArray();
        long shift = bytes.Length;
        header[name]!["data_offsets"] = new JsonArray(offsets[0]!.GetValue<long>() + shift, offsets[1]!.GetValue<long>() + shift);
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        var rewritten = new byte[8 + padded + bytes.Length - 8 - headerLength];
        BinaryPrimitives.WriteUInt64LittleEndian(rewritten, (ulong)padded);
        rewritten.AsSpan(8, padded).Fill((byte)' ');
        json.CopyTo(rewritten, 8);
        bytes.AsSpan(8 + headerLength).CopyTo(rewritten.AsSpan(8 + padded));
        File.WriteAllBytes(path, rewritten);
        var error = LoadFails<InvalidDataException>(folder);
        Assert.Contains(path, error.Message);
        Assert.Contains($"'{name}'", error.Message);
        Assert.Contains("'data_offsets'", error.Message);
    }

    [Fact]
    public void ExpertsNotDivisibleIntoGroupsNameTheConfigAndField()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        EditConfig(folder, json => json["n_group"] = 3);
        var error = LoadFails<InvalidDataException>(folder);
        Assert.Contains(ConfigPath(folder), error.Message);
        Assert.Contains("'n_routed_experts'", error.Message);
        Assert.Contains("'n_group'", error.Message);
    }

    [Theory]
    [InlineData("hidden_size", "\"thirty-two\"")]
    [InlineData("hidden_size", "32.5")]
    [InlineData("norm_topk_prob", "1")]
    [InlineData("scoring_func", "[\"sigmoid\"]")]
    [InlineData("rope_scaling", "4")]
    public void AWrongTypedConfigFieldIsNamed(string field, string value)
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        EditConfig(folder, json => json[field] = JsonNode.Parse(value));
        var error = LoadFails<InvalidDataException>(folder);
        Assert.Contains(ConfigPath(folder), error.Message);
        Assert.Contains($"'{field}'", error.Message);
    }

    [Fact]
    public void AMissingConfigIsNamed()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        File.Delete(ConfigPath(folder));
        var error = LoadFails<FileNotFoundException>(folder);
        Assert.Contains(ConfigPath(folder), error.Message);
    }

    [Fact]
    public void MissingWeightsAreNamed()
    {
        using var folder = new TempFolder();
        SaveRandom(folder, SmallModels.Base).Dispose();
        File.Delete(WeightsPath(folder));
        var error = LoadFails<FileNotFoundException>(folder);
        Assert.Contains(CheckpointTensorSource.SingleFileName, error.Message);
        Assert.Contains(CheckpointTensorSource.IndexFileName, error.Message);
    }

    [Fact]
    public void MtpTensorsOnlyPartlyPresentAreRefusedNamingAMissingOne()
    {
        using var folder = new TempFolder();
        var config = SmallModels.Named("mtp");
        SaveRandom(folder, config).Dispose();
        string name = $"model.layers.{config.NumHiddenLayers}.eh_proj.weight";
        RewriteWeights(folder, list => list.Where(p => p.Key != name).ToList());
        Assert.Contains($"missing tensor '{name}'", LoadFails<InvalidDataException>(folder).Message);
    }

    [Fact]
    public void OnlyTheMtpCopiesOfEmbeddingAndHeadCountAsPartlyPresentMtp()
    {
        using var folder = new TempFolder();
        var config = SmallModels.Named("mtp");
        SaveRandom(folder, config).Dispose();
        string prefix = $"model.layers.{config.NumHiddenLayers}.";
        RewriteWeights(folder, list => list.Where(p => !p.Key.StartsWith(prefix, StringComparison.Ordinal) || p.Key.EndsWith("embed_tokens.weight", StringComparison.Ordinal)).ToList());
        Assert.Contains($"missing tensor '{prefix}", LoadFails<InvalidDataException>(folder).Message);
    }

    [Fact]
    public void AnMtpCopyOfTheEmbeddingWithTheWrongShapeIsNamed()
    {
        using var folder = new TempFolder();
        var config = SmallModels.Named("mtp");
        SaveRandom(folder, config).Dispose();
        string name = $"model.layers.{config.NumHiddenLayers}.embed_tokens.weight";
        RewriteWeights(folder, list => list.Select(p => p.Key == name ? new KeyValuePair<string, Tensor>(name, p.Value.narrow(0, 0, 5)) : p).ToList());
        Assert.Contains($"'{name}'", LoadFails<InvalidDataException>(folder).Message);
    }

    [Fact]
    public void ACheckpointWithoutMtpTensorsLoadsAsHuggingFaceWritesIt()
    {
        using var folder = new TempFolder();
        var config = SmallModels.Named("mtp");
        using var model = SaveRandom(folder, config);
        string prefix = $"model.layers.{config.NumHiddenLayers}.";
        RewriteWeights(folder, list => list.Where(p => !p.Key.StartsWith(prefix, StringComparison.Ordinal)).ToList());
        using var scope = torch.NewDisposeScope();
        using var reloaded = HuggingFaceCheckpoint.Load(folder.Path);
        Assert.Single(reloaded.PredictionLayers);
        var before = model.state_dict();
        foreach (var (name, tensor) in reloaded.state_dict().Where(p => !p.Key.StartsWith(prefix, StringComparison.Ordinal)))
        {
            Assert.True(TensorAssert.Same(before[name], tensor), $"tensor '{name}' changed");
        }
        var ids = SmallModels.RandomIds(config, 2, 7);
        Assert.True(TensorAssert.Same(SmallModels.Logits(model, ids), SmallModels.Logits(reloaded, ids)));
    }

    [Fact]
    public void AShardedCheckpointWithAMissingShardNamesIt()
    {
        using var folder = new TempFolder();
        using (var model = SmallModels.RandomModel(SmallModels.Base)) HuggingFaceCheckpoint.Save(model, folder.Path, maxShardBytes: 16 * 1024);
        string shard = folder.FileNames().First(f => f.StartsWith("model-00002-", StringComparison.Ordinal));
        File.Delete(Path.Combine(folder.Path, shard));
        Assert.Contains(shard, LoadFails<FileNotFoundException>(folder).Message);
    }

    [Fact]
    public void AShardedCheckpointImportsToTheSameLogits()
    {
        using var folder = new TempFolder();
        using var scope = torch.NewDisposeScope();
        var config = SmallModels.Named("four-groups");
        using var model = SmallModels.RandomModel(config);
        HuggingFaceCheckpoint.Save(model, folder.Path, maxShardBytes: 4 * 1024);
        Assert.True(folder.FileNames().Count(f => f.StartsWith("model-", StringComparison.Ordinal)) > 5);
        using var reloaded = HuggingFaceCheckpoint.Load(folder.Path);
        var ids = SmallModels.RandomIds(config, 2, 7);
        Assert.True(TensorAssert.Same(SmallModels.Logits(model, ids), SmallModels.Logits(reloaded, ids)));
    }

    [Fact]
    public void FusedExpertTensorsImportToTheSameModel()
    {
        using var folder = new TempFolder();
        using var scope = torch.NewDisposeScope();
        var config = SmallModels.Named("two-dense-layers") with { BosTokenId = 0 };
        using var model = SaveRandom(folder, config);
        RewriteWeights(folder, list =>
        {
            var byName = list.ToDictionary(p => p.Key, p => p.Value);
            var result = new List<KeyValuePair<string, Tensor>>();
            foreach (var (name, tensor) in list)
            {
                var m = System.Text.RegularExpressions.Regex.Match(name, @"^(model\.layers\.\d+\.mlp\.experts)\.(\d+)\.(gate|up|down)_proj\.weight$");
                if (!m.Success)
                {
                    result.Add(new(name, tensor));
                    continue;
                }
                if (m.Groups[2].Value != "0" || m.Groups[3].Value == "up") continue;
                string prefix = m.Groups[1].Value;
                var experts = Enumerable.Range(0, config.NRoutedExperts);
                if (m.Groups[3].Value == "gate")
                {
                    // Hugging Face's fused layout: gate_up_proj [E, 2I, H] with the gate rows first, down_proj [E, H, I].
                    result.Add(new($"{prefix}.gate_up_proj", torch.stack(experts.Select(j => torch.cat(new[] { byName[$"{prefix}.{j}.gate_proj.weight"], byName[$"{prefix}.{j}.up_proj.weight"] }, 0)).ToArray())));
                }
                else
                {
                    result.Add(new($"{prefix}.down_proj", torch.stack(experts.Select(j => byName[$"{prefix}.{j}.down_proj.weight"]).ToArray())));
                }
            }
            return result;
        });
        using (var file = SafeTensorsFile.Open(WeightsPath(folder)))
        {
            Assert.Equal(new long[] { config.NRoutedExperts, 2L * config.MoeIntermediateSize, config.HiddenSize }, file.Tensors["model.layers.2.mlp.experts.gate_up_proj"].Shape);
            Assert.DoesNotContain(file.Tensors.Keys, k => k.Contains(".experts.0.", StringComparison.Ordinal));
        }
        using var reloaded = HuggingFaceCheckpoint.Load(folder.Path);
        var before = model.state_dict();
        foreach (var (name, tensor) in reloaded.state_dict())
        {
            Assert.True(TensorAssert.Same(before[name], tensor), $"tensor '{name}' differs after a fused import");
        }
        var ids = SmallModels.RandomIds(config, 2, 7);
        Assert.True(TensorAssert.Same(SmallModels.Logits(model, ids), SmallModels.Logits(reloaded, ids)));
    }
}
