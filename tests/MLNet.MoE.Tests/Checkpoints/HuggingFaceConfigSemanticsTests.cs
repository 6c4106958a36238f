using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>
/// A Hugging Face config with fields missing or null means here what it means in transformers: checked against the
/// logits transformers 5.17 computed from the same files (data/hf-config-semantics).
/// </summary>
public class HuggingFaceConfigSemanticsTests
{
    private static string Folder(string name) => TestPaths.DataFile("hf-config-semantics", name);

    private static JsonElement Json(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.Clone();
    }

    private static float[] Floats(JsonElement array) => array.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static float[] Logits(string folder, long[][] inputIds)
    {
        using var model = HuggingFaceCheckpoint.Load(folder);
        model.eval();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var ids = torch.tensor(inputIds.SelectMany(r => r).ToArray(), new long[] { inputIds.Length, inputIds[0].Length });
        return model.Forward(ids, new ForwardContext()).contiguous().data<float>().ToArray();
    }

    private static long[][] InputIds(JsonElement expected) =>
        expected.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();

    private static double MaxDifference(float[] a, float[] b)
    {
        Assert.Equal(b.Length, a.Length);
        return a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
    }

    [Theory]
    [InlineData("deepseek-v3-tiny-defaults")]
    [InlineData("deepseek-v3-tiny-nulls")]
    public void MissingAndNullFieldsGiveTransformersLogits(string name)
    {
        string folder = Folder(name);
        var expected = Json(Path.Combine(folder, "expected.json"));
        double difference = MaxDifference(Logits(folder, InputIds(expected)), Floats(expected.GetProperty("logits")));
        Assert.True(difference < 1e-4, $"{name}: max |ours - transformers| = {difference:E3}");
    }

    [Theory]
    [InlineData("deepseek-v3-tiny-defaults")]
    [InlineData("deepseek-v3-tiny-nulls")]
    public void ConfigResolvesToTheValuesTransformersHolds(string name)
    {
        string folder = Folder(name);
        var resolved = Json(Path.Combine(folder, "expected.json")).GetProperty("resolved_config");
        var config = MoeModelConfig.Load(Path.Combine(folder, "config.json"));
        Assert.Equal(resolved.GetProperty("routed_scaling_factor").GetDouble(), config.RoutedScalingFactor);
        Assert.Equal(resolved.GetProperty("n_group").GetInt32(), config.NGroup);
        Assert.Equal(resolved.GetProperty("topk_group").GetInt32(), config.TopkGroup);
        Assert.Equal(resolved.GetProperty("num_experts_per_tok").GetInt32(), config.NumExpertsPerTok);
        Assert.Equal(resolved.GetProperty("first_k_dense_replace").GetInt32(), config.FirstKDenseReplace);
        Assert.Equal(resolved.GetProperty("n_shared_experts").GetInt32(), config.NSharedExperts);
        Assert.Equal(resolved.GetProperty("norm_topk_prob").GetBoolean(), config.NormTopkProb);
        Assert.Equal(resolved.GetProperty("rope_interleave").GetBoolean(), config.RopeInterleave);
        Assert.Equal(resolved.GetProperty("max_position_embeddings").GetInt32(), config.MaxPositionEmbeddings);
        Assert.Equal(resolved.GetProperty("rms_norm_eps").GetDouble(), config.RmsNormEps);
        Assert.Equal(resolved.GetProperty("num_key_value_heads").GetInt32(), config.NumKeyValueHeads);
        Assert.Equal(resolved.GetProperty("rope_parameters").GetProperty("rope_theta").GetDouble(), config.RopeTheta);
        var qLoraRank = resolved.GetProperty("q_lora_rank");
        Assert.Equal(qLoraRank.ValueKind == JsonValueKind.Null ? null : qLoraRank.GetInt32(), config.QLoraRank);
    }

    /// <summary>Each field set to null in turn: refused where transformers fails, else the logits transformers computed.</summary>
    [Fact]
    public void EachNullFieldIsReadAsTransformersReadsIt()
    {
        var semantics = Json(TestPaths.DataFile("hf-config-semantics", "null-semantics.json"));
        long[][] inputIds = InputIds(semantics);
        string source = Folder(semantics.GetProperty("base").GetString()!);
        var cases = semantics.GetProperty("cases").EnumerateObject().ToList();
        Assert.True(cases.Count >= 10, "the fixture probes every routing, rotary and norm field");
        foreach (var probe in cases)
        {
            string field = probe.Name;
            string folder = TestPaths.NewTempDirectory();
            try
            {
                File.Copy(Path.Combine(source, "model.safetensors"), Path.Combine(folder, "model.safetensors"));
                var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
                config[field] = null;
                File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
                if (probe.Value.GetProperty("loads").GetBoolean())
                {
                    double difference = MaxDifference(Logits(folder, inputIds), Floats(probe.Value.GetProperty("logits")));
                    Assert.True(difference < 1e-4, $"null '{field}': max |ours - transformers| = {difference:E3}");
                }
                else
                {
                    var error = Assert.ThrowsAny<Exception>(() => MoeModelConfig.Load(Path.Combine(folder, "config.json")));
                    Assert.Contains($"'{field}'", error.Message, StringComparison.Ordinal);
                }
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Fact]
    public void TiedWordEmbeddingsAreRefusedByName()
    {
        var error = Assert.ThrowsAny<Exception>(() => HuggingFaceCheckpoint.Load(TinyCheckpoints.With("tie_word_embeddings", true)));
        Assert.Contains("tie_word_embeddings", error.Message, StringComparison.Ordinal);
    }
}
