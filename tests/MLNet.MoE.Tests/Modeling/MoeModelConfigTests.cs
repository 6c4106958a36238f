using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>Reading and writing <c>config.json</c>.</summary>
public class MoeModelConfigTests
{
    private static readonly PropertyInfo[] Fields = typeof(MoeModelConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite && p.Name != nameof(MoeModelConfig.ExtraFields)).ToArray();

    public static TheoryData<string> ConfigNames => new()
    {
        "base", "no-q-lora", "four-groups", "yarn", "rope-not-interleaved", "attention-bias", "softmax-group-limited", "softmax-greedy", "mtp",
    };

    private static void AssertSameFields(MoeModelConfig expected, MoeModelConfig actual)
    {
        foreach (var field in Fields) Assert.True(Equals(field.GetValue(expected), field.GetValue(actual)), $"{field.Name}: {field.GetValue(expected)} became {field.GetValue(actual)}");
    }

    [Theory]
    [MemberData(nameof(ConfigNames))]
    public void JsonRoundTripKeepsEveryField(string name)
    {
        var config = SmallModels.Named(name);
        AssertSameFields(config, MoeModelConfig.FromJson(config.ToJson()));
    }

    [Fact]
    public void JsonRoundTripKeepsFieldsThatDifferFromEveryDefaultAndTheUnknownFields()
    {
        var defaults = new MoeModelConfig();
        var config = new MoeModelConfig
        {
            VocabSize = 1001, HiddenSize = 96, IntermediateSize = 200, MoeIntermediateSize = 40, NumHiddenLayers = 5, NumAttentionHeads = 3,
            NumKeyValueHeads = 7, NSharedExperts = 3, NRoutedExperts = 12, RoutedScalingFactor = 16.5, KvLoraRank = 24, QLoraRank = null,
            QkRopeHeadDim = 12, VHeadDim = 20, QkNopeHeadDim = 0, NGroup = 3, TopkGroup = 2, NumExpertsPerTok = 5, FirstKDenseReplace = 2,
            NormTopkProb = false, MaxPositionEmbeddings = 4096, InitializerRange = 0.006, RmsNormEps = 1e-5, RopeTheta = 50000.5,
            RopeScaling = new RopeScaling { Factor = 40, OriginalMaxPositionEmbeddings = 128, BetaFast = 16, BetaSlow = 2, MScale = 0.707, MScaleAllDim = 0.5 },
            RopeInterleave = false, AttentionBias = true, BosTokenId = 100000, EosTokenId = 100001, PadTokenId = 7,
            NumNextnPredictLayers = 2, ScoringFunc = "softmax", TopkMethod = "group_limited_greedy",
            ExtraFields = new Dictionary<string, JsonNode?>
            {
                ["aux_loss_alpha"] = 0.001, ["seq_aux"] = true, ["ep_size"] = 1, ["quantization_config"] = JsonNode.Parse("{\"fmt\":\"e4m3\",\"block\":[128,128]}"),
                ["note"] = null, ["attention_dropout"] = 0.1,
            },
        };
        // hidden_act has one allowed value, silu, and tie_word_embeddings one, false.
        foreach (var field in Fields.Where(f => f.Name is not (nameof(MoeModelConfig.HiddenAct) or nameof(MoeModelConfig.TieWordEmbeddings)))) Assert.False(Equals(field.GetValue(defaults), field.GetValue(config)), $"{field.Name} equals its default: the round trip would not show it lost");

        var read = MoeModelConfig.FromJson(config.ToJson());
        AssertSameFields(config, read);
        Assert.Equal(config.ExtraFields.Keys.Order(), read.ExtraFields.Keys.Order());
        foreach (var (key, value) in config.ExtraFields) Assert.True(JsonNode.DeepEquals(value, read.ExtraFields[key]), $"extra field '{key}' changed");
        Assert.Equal(config.ToJson(), read.ToJson());
    }

    [Fact]
    public void AFreshConfigWritesTheFieldsHuggingFaceNeeds()
    {
        var json = JsonNode.Parse(SmallModels.Base.ToJson())!.AsObject();
        Assert.Equal("deepseek_v3", json["model_type"]!.GetValue<string>());
        Assert.Equal(0.0, json["attention_dropout"]!.GetValue<double>());
        Assert.Equal(SmallModels.Base.QkNopeHeadDim + SmallModels.Base.QkRopeHeadDim, json["qk_head_dim"]!.GetValue<int>());
        Assert.Equal(SmallModels.Base.QkRopeHeadDim, json["head_dim"]!.GetValue<int>());
    }

    [Fact]
    public void TheFixtureConfigReadsAsItsJsonSays()
    {
        string path = TestPaths.DataFile("deepseek-v3-tiny-a", "config.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var json = document.RootElement;
        var config = MoeModelConfig.Load(path);

        int Int(string field) => json.GetProperty(field).GetInt32();
        Assert.Equal(Int("vocab_size"), config.VocabSize);
        Assert.Equal(Int("hidden_size"), config.HiddenSize);
        Assert.Equal(Int("intermediate_size"), config.IntermediateSize);
        Assert.Equal(Int("moe_intermediate_size"), config.MoeIntermediateSize);
        Assert.Equal(Int("num_hidden_layers"), config.NumHiddenLayers);
        Assert.Equal(Int("num_attention_heads"), config.NumAttentionHeads);
        Assert.Equal(Int("num_key_value_heads"), config.NumKeyValueHeads);
        Assert.Equal(Int("n_shared_experts"), config.NSharedExperts);
        Assert.Equal(Int("n_routed_experts"), config.NRoutedExperts);
        Assert.Equal(json.GetProperty("routed_scaling_factor").GetDouble(), config.RoutedScalingFactor);
        Assert.Equal(Int("kv_lora_rank"), config.KvLoraRank);
        Assert.Equal(Int("q_lora_rank"), config.QLoraRank);
        Assert.Equal(Int("qk_rope_head_dim"), config.QkRopeHeadDim);
        Assert.Equal(Int("v_head_dim"), config.VHeadDim);
        Assert.Equal(Int("qk_nope_head_dim"), config.QkNopeHeadDim);
        Assert.Equal(Int("qk_head_dim"), config.QkHeadDim);
        Assert.Equal(Int("n_group"), config.NGroup);
        Assert.Equal(Int("topk_group"), config.TopkGroup);
        Assert.Equal(Int("num_experts_per_tok"), config.NumExpertsPerTok);
        Assert.Equal(Int("first_k_dense_replace"), config.FirstKDenseReplace);
        Assert.Equal(json.GetProperty("norm_topk_prob").GetBoolean(), config.NormTopkProb);
        Assert.Equal(json.GetProperty("hidden_act").GetString(), config.HiddenAct);
        Assert.Equal(Int("max_position_embeddings"), config.MaxPositionEmbeddings);
        Assert.Equal(json.GetProperty("initializer_range").GetDouble(), config.InitializerRange);
        Assert.Equal(json.GetProperty("rms_norm_eps").GetDouble(), config.RmsNormEps);
        var rope = json.GetProperty("rope_parameters");
        Assert.Equal(rope.GetProperty("rope_theta").GetDouble(), config.RopeTheta);
        Assert.Equal("default", rope.GetProperty("rope_type").GetString());
        Assert.Null(config.RopeScaling);
        Assert.Equal(json.GetProperty("rope_interleave").GetBoolean(), config.RopeInterleave);
        Assert.Equal(json.GetProperty("attention_bias").GetBoolean(), config.AttentionBias);
        Assert.Equal(json.GetProperty("tie_word_embeddings").GetBoolean(), config.TieWordEmbeddings);
        Assert.Equal(Int("bos_token_id"), config.BosTokenId);
        Assert.Equal(Int("eos_token_id"), config.EosTokenId);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("pad_token_id").ValueKind);
        Assert.Null(config.PadTokenId);
        Assert.Equal(Int("num_nextn_predict_layers"), config.NumNextnPredictLayers);
        // The fixture (Hugging Face's DeepseekV3Config) has no scoring_func / topk_method: DeepSeek-V3's rule applies.
        Assert.False(json.TryGetProperty("scoring_func", out _));
        Assert.Equal("sigmoid", config.ScoringFunc);
        Assert.Equal("noaux_tc", config.TopkMethod);
        foreach (string field in new[] { "use_cache", "pretraining_tp", "attention_dropout", "transformers_version", "dtype" })
        {
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(json.GetProperty(field).GetRawText()), config.ExtraFields[field]), $"extra field '{field}'");
        }
        // Written back, every field of the file keeps its value.
        var written = JsonNode.Parse(config.ToJson())!.AsObject();
        foreach (var property in json.EnumerateObject())
        {
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(property.Value.GetRawText()), written[property.Name]), $"field '{property.Name}' changed when written back: {written[property.Name]?.ToJsonString()}");
        }
    }

    /// <summary>A classifier training checkpoint holds the config text it was saved with and resumes only when the backbone's
    /// config writes the same text, so the text of a config must not change: field order, float literals and all.</summary>
    [Fact]
    public void AConfigIsWrittenAsTheSameText()
    {
        const string expected = """
        {
          "architectures": [
            "DeepseekV3ForCausalLM"
          ],
          "model_type": "deepseek_v3",
          "vocab_size": 48,
          "hidden_size": 32,
          "intermediate_size": 48,
          "moe_intermediate_size": 16,
          "num_hidden_layers": 2,
          "num_attention_heads": 2,
          "num_key_value_heads": 2,
          "n_shared_experts": 1,
          "n_routed_experts": 8,
          "routed_scaling_factor": 2.5,
          "kv_lora_rank": 16,
          "q_lora_rank": 24,
          "qk_rope_head_dim": 8,
          "v_head_dim": 8,
          "qk_nope_head_dim": 8,
          "qk_head_dim": 16,
          "head_dim": 8,
          "n_group": 2,
          "topk_group": 1,
          "num_experts_per_tok": 2,
          "first_k_dense_replace": 1,
          "norm_topk_prob": true,
          "hidden_act": "silu",
          "max_position_embeddings": 64,
          "initializer_range": 0.2,
          "rms_norm_eps": 1E-06,
          "rope_theta": 10000.0,
          "rope_interleave": true,
          "attention_bias": false,
          "tie_word_embeddings": false,
          "bos_token_id": 0,
          "eos_token_id": 1,
          "pad_token_id": null,
          "num_nextn_predict_layers": 0,
          "scoring_func": "sigmoid",
          "topk_method": "noaux_tc",
          "rope_scaling": {
            "rope_type": "yarn",
            "factor": 4.0,
            "original_max_position_embeddings": 16,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "mscale": 1.0,
            "mscale_all_dim": 1.0
          },
          "rope_parameters": {
            "rope_theta": 10000.0,
            "rope_type": "yarn",
            "factor": 4.0,
            "original_max_position_embeddings": 16,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "mscale": 1.0,
            "mscale_all_dim": 1.0
          },
          "attention_dropout": 0.0
        }
        """;
        Assert.Equal(expected, SmallModels.Named("yarn").ToJson().ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData("32")]
    [InlineData("32.0")]
    [InlineData("3.2e1")]
    public void AnIntegerFieldTakesAnyIntegralNumber(string value)
    {
        var json = JsonNode.Parse(SmallModels.Base.ToJson())!.AsObject();
        json["hidden_size"] = JsonNode.Parse(value);
        Assert.Equal(32, MoeModelConfig.FromJson(json.ToJsonString()).HiddenSize);
    }

    [Fact]
    public void RopeParametersGiveTheBaseAndRopeScalingTheYarnSection()
    {
        var json = JsonNode.Parse(SmallModels.Base.ToJson())!.AsObject();
        json["rope_theta"] = 5000.0;
        json["rope_parameters"] = JsonNode.Parse("""{"rope_theta": 20000.0, "rope_type": "yarn", "factor": 8.0}""");
        var config = MoeModelConfig.FromJson(json.ToJsonString());
        Assert.Equal(20000.0, config.RopeTheta);
        Assert.Equal(new RopeScaling { Factor = 8, OriginalMaxPositionEmbeddings = config.MaxPositionEmbeddings }, config.RopeScaling);

        json["rope_scaling"] = JsonNode.Parse("""{"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 16}""");
        Assert.Equal(new RopeScaling { Factor = 2, OriginalMaxPositionEmbeddings = 16 }, MoeModelConfig.FromJson(json.ToJsonString()).RopeScaling);
    }
}
