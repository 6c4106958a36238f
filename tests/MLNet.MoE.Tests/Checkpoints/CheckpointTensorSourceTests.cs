using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>Hugging Face checkpoint folders: a single <c>model.safetensors</c>, or shards with an index.</summary>
public class CheckpointTensorSourceTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static List<KeyValuePair<string, Tensor>> Tensors()
    {
        torch.manual_seed(7);
        return
        [
            new("model.embed_tokens.weight", torch.randn(16, 8)),   // 512 bytes
            new("model.layers.0.mlp.weight", torch.randn(8, 8)),    // 256 bytes
            new("model.layers.0.norm.weight", torch.randn(8)),      // 32 bytes
            new("model.layers.1.mlp.weight", torch.randn(8, 8)),    // 256 bytes
            new("model.norm.weight", torch.randn(8)),               // 32 bytes
            new("lm_head.weight", torch.randn(16, 8)),              // 512 bytes
        ];
    }

    [Fact]
    public void ShardedWriteIsReadBackThroughTheIndex()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = Tensors();
        CheckpointTensorSource.WriteSharded(_folder.Path, tensors, maxShardBytes: 500);

        // Filled in order up to 500 bytes; a tensor larger than that gets a shard of its own:
        // [embed 512], [mlp0 256, norm0 32], [mlp1 256, norm 32], [lm_head 512].
        string[] shards = ["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"];
        Assert.Equal(shards.Append(CheckpointTensorSource.IndexFileName).Order(StringComparer.Ordinal), _folder.FileNames());

        using (var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(_folder.Path, CheckpointTensorSource.IndexFileName))))
        {
            Assert.Equal(tensors.Sum(t => t.Value.NumberOfElements * 4), index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
            var map = index.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
            Assert.Equal(shards[0], map["model.embed_tokens.weight"]);
            Assert.Equal(shards[1], map["model.layers.0.mlp.weight"]);
            Assert.Equal(shards[1], map["model.layers.0.norm.weight"]);
            Assert.Equal(shards[2], map["model.layers.1.mlp.weight"]);
            Assert.Equal(shards[2], map["model.norm.weight"]);
            Assert.Equal(shards[3], map["lm_head.weight"]);
        }

        using CheckpointTensorSource source = CheckpointTensorSource.Open(_folder.Path);
        Assert.Equal(4, source.Files.Count);
        Assert.Equal(tensors.Select(t => t.Key).Order(StringComparer.Ordinal), source.Names.Order(StringComparer.Ordinal));
        foreach ((string name, Tensor original) in tensors)
        {
            Assert.Equal(original.shape, source.Info(name).Shape);
            Assert.True(TensorAssert.Same(original, source.Read(name)), name);
        }
    }

    [Fact]
    public void EverythingWithinOneShardIsWrittenAsModelSafetensors()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = Tensors();
        CheckpointTensorSource.WriteSharded(_folder.Path, tensors, maxShardBytes: 1L << 30, storeAs: ScalarType.BFloat16);
        Assert.Equal([CheckpointTensorSource.SingleFileName], _folder.FileNames());

        using CheckpointTensorSource source = CheckpointTensorSource.Open(_folder.Path);
        Assert.Equal(tensors.Select(t => t.Key), source.Names);
        foreach ((string name, Tensor original) in tensors)
        {
            Assert.Equal("BF16", source.Info(name).DType);
            Assert.True(TensorAssert.Same(original.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32), source.Read(name)), name);
        }
    }

    [Fact]
    public void RewritingWithAnotherLayoutRemovesTheStaleWeightsFiles()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = Tensors();
        File.WriteAllText(Path.Combine(_folder.Path, "config.json"), "{}");

        CheckpointTensorSource.WriteSharded(_folder.Path, tensors, maxShardBytes: 1L << 30);
        CheckpointTensorSource.WriteSharded(_folder.Path, tensors, maxShardBytes: 500);
        Assert.DoesNotContain(CheckpointTensorSource.SingleFileName, _folder.FileNames());
        Assert.Equal(6, _folder.FileNames().Length);

        CheckpointTensorSource.WriteSharded(_folder.Path, tensors, maxShardBytes: 1100);
        Assert.Equal(["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", CheckpointTensorSource.IndexFileName], _folder.FileNames());

        CheckpointTensorSource.WriteSharded(_folder.Path, tensors, maxShardBytes: 1L << 30);
        Assert.Equal(["config.json", CheckpointTensorSource.SingleFileName], _folder.FileNames());
        using CheckpointTensorSource source = CheckpointTensorSource.Open(_folder.Path);
        Assert.Equal(tensors.Count, source.Names.Count);
    }

    [Fact]
    public void FolderWithoutWeightsNamesTheFolderAndTheExpectedFiles()
    {
        var e = Assert.Throws<FileNotFoundException>(() => CheckpointTensorSource.Open(_folder.Path));
        Assert.Contains(_folder.Path, e.Message);
        Assert.Contains(CheckpointTensorSource.SingleFileName, e.Message);
        Assert.Contains(CheckpointTensorSource.IndexFileName, e.Message);

        Assert.Throws<DirectoryNotFoundException>(() => CheckpointTensorSource.Open(Path.Combine(_folder.Path, "absent")));
    }

    [Fact]
    public void IndexNamingAMissingShardNamesIndexAndShard()
    {
        using var scope = torch.NewDisposeScope();
        CheckpointTensorSource.WriteSharded(_folder.Path, Tensors(), maxShardBytes: 500);
        File.Delete(Path.Combine(_folder.Path, "model-00003-of-00004.safetensors"));

        var e = Assert.Throws<FileNotFoundException>(() => CheckpointTensorSource.Open(_folder.Path));
        Assert.Contains(Path.Combine(_folder.Path, CheckpointTensorSource.IndexFileName), e.Message);
        Assert.Contains("model-00003-of-00004.safetensors", e.Message);
        Assert.Equal(Path.Combine(_folder.Path, "model-00003-of-00004.safetensors"), e.FileName);
    }

    [Fact]
    public void TensorListedInTheIndexButAbsentFromItsShardNamesBoth()
    {
        using var scope = torch.NewDisposeScope();
        CheckpointTensorSource.WriteSharded(_folder.Path, Tensors(), maxShardBytes: 500);
        string indexPath = Path.Combine(_folder.Path, CheckpointTensorSource.IndexFileName);
        string edited = File.ReadAllText(indexPath).Replace(
            "\"lm_head.weight\": \"model-00004-of-00004.safetensors\"",
            "\"lm_head.weight\": \"model-00001-of-00004.safetensors\"");
        File.WriteAllText(indexPath, edited);

        var e = Assert.Throws<InvalidDataException>(() => CheckpointTensorSource.Open(_folder.Path));
        Assert.Contains("'lm_head.weight'", e.Message);
        Assert.Contains("model-00001-of-00004.safetensors", e.Message);
        Assert.Contains(indexPath, e.Message);
    }

    [Theory]
    [InlineData("{\"weight_map\": {\"w\": \"../outside.safetensors\"}}", "../outside.safetensors")]
    [InlineData("{\"metadata\": {}}", "weight_map")]
    [InlineData("{\"weight_map\": ", "not valid JSON")]
    public void MalformedIndexIsRefused(string index, string expected)
    {
        File.WriteAllText(Path.Combine(_folder.Path, CheckpointTensorSource.IndexFileName), index);
        var e = Assert.Throws<InvalidDataException>(() => CheckpointTensorSource.Open(_folder.Path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(CheckpointTensorSource.IndexFileName, e.Message);
    }

    [Fact]
    public void UnknownTensorNamesTensorAndFolder()
    {
        using var scope = torch.NewDisposeScope();
        CheckpointTensorSource.WriteSharded(_folder.Path, Tensors(), maxShardBytes: 500);
        using CheckpointTensorSource source = CheckpointTensorSource.Open(_folder.Path);
        var e = Assert.Throws<KeyNotFoundException>(() => source.Read("model.missing.weight"));
        Assert.Contains("'model.missing.weight'", e.Message);
        Assert.Contains(_folder.Path, e.Message);
        Assert.Throws<KeyNotFoundException>(() => source.Info("model.missing.weight"));
        Assert.False(source.Contains("model.missing.weight"));
        Assert.True(source.Contains("lm_head.weight"));
    }
}
