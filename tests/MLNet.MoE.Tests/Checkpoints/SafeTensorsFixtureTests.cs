using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>Reads the tiny DeepseekV3 checkpoint that Hugging Face transformers wrote, and checks it against its config.json.</summary>
public class SafeTensorsFixtureTests
{
    private static string FixtureFile => TestPaths.DataFile("deepseek-v3-tiny-a", "model.safetensors");

    private static JsonElement Config()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.DataFile("deepseek-v3-tiny-a", "config.json")));
        return doc.RootElement.Clone();
    }

    /// <summary>Every tensor name and shape DeepseekV3ForCausalLM has for this config, derived from config.json alone.</summary>
    private static Dictionary<string, long[]> ExpectedShapes(JsonElement c)
    {
        long L(string key) => c.GetProperty(key).GetInt64();
        long hidden = L("hidden_size"), vocab = L("vocab_size"), heads = L("num_attention_heads");
        long qLora = L("q_lora_rank"), kvLora = L("kv_lora_rank");
        long nope = L("qk_nope_head_dim"), rope = L("qk_rope_head_dim"), v = L("v_head_dim");
        long dense = L("intermediate_size"), moe = L("moe_intermediate_size");
        long experts = L("n_routed_experts"), shared = L("n_shared_experts");
        long layers = L("num_hidden_layers"), firstMoe = L("first_k_dense_replace");

        var shapes = new Dictionary<string, long[]>
        {
            ["model.embed_tokens.weight"] = [vocab, hidden],
            ["model.norm.weight"] = [hidden],
            ["lm_head.weight"] = [vocab, hidden],
        };
        for (long i = 0; i < layers; i++)
        {
            string p = $"model.layers.{i}.";
            shapes[p + "input_layernorm.weight"] = [hidden];
            shapes[p + "post_attention_layernorm.weight"] = [hidden];
            shapes[p + "self_attn.q_a_proj.weight"] = [qLora, hidden];
            shapes[p + "self_attn.q_a_layernorm.weight"] = [qLora];
            shapes[p + "self_attn.q_b_proj.weight"] = [heads * (nope + rope), qLora];
            shapes[p + "self_attn.kv_a_proj_with_mqa.weight"] = [kvLora + rope, hidden];
            shapes[p + "self_attn.kv_a_layernorm.weight"] = [kvLora];
            shapes[p + "self_attn.kv_b_proj.weight"] = [heads * (nope + v), kvLora];
            shapes[p + "self_attn.o_proj.weight"] = [hidden, heads * v];
            if (i < firstMoe)
            {
                AddMlp(shapes, p + "mlp.", dense, hidden);
                continue;
            }
            for (long e = 0; e < experts; e++) AddMlp(shapes, $"{p}mlp.experts.{e}.", moe, hidden);
            AddMlp(shapes, p + "mlp.shared_experts.", moe * shared, hidden);
            shapes[p + "mlp.gate.weight"] = [experts, hidden];
            shapes[p + "mlp.gate.e_score_correction_bias"] = [experts];
        }
        return shapes;
    }

    private static void AddMlp(Dictionary<string, long[]> shapes, string prefix, long intermediate, long hidden)
    {
        shapes[prefix + "gate_proj.weight"] = [intermediate, hidden];
        shapes[prefix + "up_proj.weight"] = [intermediate, hidden];
        shapes[prefix + "down_proj.weight"] = [hidden, intermediate];
    }

    [Fact]
    public void TensorNamesAndShapesMatchConfig()
    {
        JsonElement config = Config();
        Dictionary<string, long[]> expected = ExpectedShapes(config);
        using SafeTensorsFile file = SafeTensorsFile.Open(FixtureFile);

        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), file.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach ((string name, long[] shape) in expected)
        {
            SafeTensorInfo info = file.Tensors[name];
            Assert.Equal(name, info.Name);
            Assert.True(shape.SequenceEqual(info.Shape), $"{name}: expected [{string.Join(", ", shape)}], read [{string.Join(", ", info.Shape)}]");
            Assert.Equal("F32", info.DType);
        }
        Assert.Equal("pt", file.Metadata["format"]);

        long hidden = config.GetProperty("hidden_size").GetInt64();
        long moe = config.GetProperty("moe_intermediate_size").GetInt64();
        Assert.Equal([config.GetProperty("vocab_size").GetInt64(), hidden], file.Tensors["model.embed_tokens.weight"].Shape);
        Assert.Equal([moe, hidden], file.Tensors["model.layers.1.mlp.experts.3.gate_proj.weight"].Shape);
    }

    [Fact]
    public void TensorsAreListedInDataOrderAndFillTheDataArea()
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(FixtureFile);
        long expectedBegin = 0;
        foreach (SafeTensorInfo info in file.Tensors.Values)
        {
            Assert.Equal(expectedBegin, info.Begin);
            Assert.Equal(info.ElementCount * 4, info.ByteLength);
            expectedBegin = info.End;
        }
        using var stream = File.OpenRead(FixtureFile);
        Span<byte> prefix = stackalloc byte[8];
        stream.ReadExactly(prefix);
        Assert.Equal(stream.Length, 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(prefix) + expectedBegin);
    }

    [Fact]
    public void ReadTensorMatchesBytesReadIndependently()
    {
        // Parse the header and read the raw little-endian floats of the final norm weight without the reader.
        byte[] bytes = File.ReadAllBytes(FixtureFile);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        JsonElement entry = header.RootElement.GetProperty("model.norm.weight");
        long begin = entry.GetProperty("data_offsets")[0].GetInt64();
        long end = entry.GetProperty("data_offsets")[1].GetInt64();
        var expected = new float[(end - begin) / 4];
        for (int i = 0; i < expected.Length; i++)
        {
            expected[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + headerLength + begin + 4 * i), 4));
        }

        using var scope = torch.NewDisposeScope();
        using SafeTensorsFile file = SafeTensorsFile.Open(FixtureFile);
        Tensor read = file.ReadTensor("model.norm.weight");
        Assert.Equal(ScalarType.Float32, read.dtype);
        Assert.Equal(DeviceType.CPU, read.device_type);
        Assert.Equal([expected.Length], read.shape);
        Assert.Equal(expected, read.data<float>().ToArray());

        Tensor asDouble = file.ReadTensor("model.norm.weight", ScalarType.Float64);
        Assert.Equal(ScalarType.Float64, asDouble.dtype);
        Assert.Equal(expected.Select(f => (double)f), asDouble.data<double>().ToArray());
    }

    [Fact]
    public void RewritingFixtureTensorsInOrderReproducesThemBitForBit()
    {
        using var folder = new TempFolder();
        using var scope = torch.NewDisposeScope();
        using SafeTensorsFile original = SafeTensorsFile.Open(FixtureFile);
        var tensors = original.Tensors.Keys.Select(name => new KeyValuePair<string, Tensor>(name, original.ReadTensor(name))).ToList();

        string copyPath = Path.Combine(folder.Path, "copy.safetensors");
        SafeTensorsWriter.Write(copyPath, tensors);

        using SafeTensorsFile copy = SafeTensorsFile.Open(copyPath);
        Assert.Equal(original.Tensors.Keys, copy.Tensors.Keys);
        Assert.Equal(original.Metadata, copy.Metadata);
        foreach (SafeTensorInfo info in original.Tensors.Values)
        {
            SafeTensorInfo copied = copy.Tensors[info.Name];
            Assert.Equal((info.DType, info.Begin, info.End), (copied.DType, copied.Begin, copied.End));
            Assert.Equal(info.Shape, copied.Shape);
            Assert.Equal(BitsOf(original.ReadTensor(info.Name)), BitsOf(copy.ReadTensor(info.Name)));
        }

        // The data areas, which follow headers of different lengths, are identical byte for byte.
        Assert.Equal(DataArea(FixtureFile), DataArea(copyPath));
    }

    [Fact]
    public void CheckpointFolderOpensAsSingleFile()
    {
        using var scope = torch.NewDisposeScope();
        string folder = Path.GetDirectoryName(FixtureFile)!;
        using CheckpointTensorSource source = CheckpointTensorSource.Open(folder);
        using SafeTensorsFile file = SafeTensorsFile.Open(FixtureFile);
        Assert.Single(source.Files);
        Assert.Equal(file.Tensors.Keys, source.Names);
        Assert.Equal(file.Tensors["lm_head.weight"].Shape, source.Info("lm_head.weight").Shape);
        Assert.True(TensorAssert.Same(file.ReadTensor("lm_head.weight"), source.Read("lm_head.weight")));
    }

    private static int[] BitsOf(Tensor t) => t.data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();

    private static byte[] DataArea(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return bytes[(int)(8 + headerLength)..];
    }
}
