using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNet.MoE;

/// <summary>
/// What Hugging Face transformers (5.17, <c>DeepseekV3Config</c>) makes of a <c>config.json</c> field that is missing or
/// null, and of its two rotary sections, so that a file means the same model here as there.
/// </summary>
/// <remarks>
/// <para>A missing field takes the value below (DeepSeek-V3's own sizes), not a default of this library: a config that
/// leaves out <c>hidden_size</c> describes a 7,168-wide model, and its weights are then checked against that.</para>
/// <para>A null field: transformers gives null a meaning only for <c>q_lora_rank</c> (no query compression),
/// <c>num_key_value_heads</c> (the attention heads), <c>rope_parameters</c> and <c>rope_scaling</c> (plain rotary
/// embeddings with <c>rope_theta</c> from the top level, else 10,000), the token ids (none), and two switches it
/// reads as false (<c>norm_topk_prob</c>, <c>rope_interleave</c>). Every other null is refused by its typed config or
/// fails in its model, and is refused here with the field's name.</para>
/// </remarks>
internal static class DeepseekV3ConfigDefaults
{
    /// <summary>The values of <c>DeepseekV3Config()</c>'s arguments.</summary>
    public static MoeModelConfig Values { get; } = new()
    {
        VocabSize = 129280,
        HiddenSize = 7168,
        IntermediateSize = 18432,
        MoeIntermediateSize = 2048,
        NumHiddenLayers = 61,
        NumAttentionHeads = 128,
        NumKeyValueHeads = 128,
        NSharedExperts = 1,
        NRoutedExperts = 256,
        RoutedScalingFactor = 2.5,
        KvLoraRank = 512,
        QLoraRank = 1536,
        QkRopeHeadDim = 64,
        VHeadDim = 128,
        QkNopeHeadDim = 128,
        NGroup = 8,
        TopkGroup = 4,
        NumExpertsPerTok = 8,
        FirstKDenseReplace = 3,
        NormTopkProb = true,
        HiddenAct = "silu",
        MaxPositionEmbeddings = 4096,
        InitializerRange = 0.02,
        RmsNormEps = 1e-6,
        RopeTheta = 10000.0,
        RopeInterleave = true,
        AttentionBias = false,
        TieWordEmbeddings = false,
        BosTokenId = 0,
        EosTokenId = 1,
        PadTokenId = null,
    };

    /// <summary>Fields whose null transformers reads as false.</summary>
    public static IReadOnlySet<string> NullMeansFalse { get; } = new HashSet<string>(StringComparer.Ordinal) { "norm_topk_prob", "rope_interleave" };

    /// <summary>Fields whose null reads as missing: the two rotary sections, and the fields of DeepSeek's own configs that
    /// <c>DeepseekV3Config</c> does not have (they keep this library's defaults).</summary>
    public static IReadOnlySet<string> NullMeansMissing { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "rope_parameters", "rope_scaling", "num_nextn_predict_layers", "scoring_func", "topk_method",
    };

    /// <summary>
    /// Replaces each null of <paramref name="root"/> that transformers gives a meaning to by that meaning: false for
    /// <see cref="NullMeansFalse"/>, nothing for <see cref="NullMeansMissing"/>, the attention heads for
    /// <c>num_key_value_heads</c>. The other nulls stay, for the typed read: a nullable property takes them (<c>q_lora_rank</c>,
    /// the token ids) and any other refuses them, naming the field.
    /// </summary>
    public static void ResolveNulls(JsonObject root)
    {
        foreach (var (field, value) in root.ToList())
        {
            if (value != null) continue;
            if (NullMeansFalse.Contains(field)) root[field] = false;
            else if (NullMeansMissing.Contains(field)) root.Remove(field);
            else if (field == "num_key_value_heads")
            {
                // Left out, it takes the default of num_attention_heads, which is that of num_key_value_heads.
                if (root["num_attention_heads"] is { } heads) root[field] = heads.DeepClone();
                else root.Remove(field);
            }
        }
    }

    /// <summary>
    /// Brings the two rotary sections of <paramref name="root"/> into the form <see cref="MoeModelConfig"/>'s properties
    /// bind: the base frequency of <c>rope_parameters</c> (transformers 5) wins over the top-level <c>rope_theta</c>, and
    /// YaRN scaling is read from <c>rope_scaling</c>, else from <c>rope_parameters</c> (a section of type <c>default</c>
    /// means plain rotary embeddings). Returns the section each moved field came from, for error messages.
    /// </summary>
    public static IReadOnlyDictionary<string, string> MergeRopeSections(JsonObject root, string source)
    {
        JsonObject? Section(string name) => root[name] switch
        {
            null => null,
            JsonObject section => section,
            var other => throw MoeModelConfig.FieldError(source, name, other, nameof(JsonObject)),
        };
        bool IsYarn(JsonObject? section, string name)
        {
            if (section == null) return false;
            string type = "default";
            foreach (string key in (string[])["type", "rope_type"])
            {
                if (!section.TryGetPropertyValue(key, out JsonNode? node)) continue;
                type = node?.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : throw MoeModelConfig.FieldError($"{source}: {name}", key, node, nameof(String));
            }
            if (type is not ("default" or "yarn")) throw new InvalidDataException($"Model config '{source}: {name}': rope type '{type}' is not supported (only 'default' and 'yarn').");
            return type == "yarn";
        }
        var moved = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonObject? parameters = Section("rope_parameters");
        JsonObject? scaling = Section("rope_scaling");
        if (parameters?["rope_theta"] is { } theta)
        {
            // The top-level value gives way, but is still refused when it is not a number.
            if (root.TryGetPropertyValue("rope_theta", out JsonNode? top) && !(top is JsonValue value && value.TryGetValue(out double _)))
                throw MoeModelConfig.FieldError(source, "rope_theta", top, nameof(Double));
            root["rope_theta"] = theta.DeepClone();
            moved["rope_theta"] = "rope_parameters";
        }
        string? section = IsYarn(scaling, "rope_scaling") ? "rope_scaling" : IsYarn(parameters, "rope_parameters") ? "rope_parameters" : null;
        if (section == null)
        {
            root.Remove("rope_scaling");
            return moved;
        }
        var yarn = root[section]!.DeepClone().AsObject();
        yarn.TryAdd("original_max_position_embeddings", root["max_position_embeddings"]?.DeepClone() ?? Values.MaxPositionEmbeddings);
        // Put last, so that a fault of the top level is reported before one of the section.
        root.Remove("rope_scaling");
        root["rope_scaling"] = yarn;
        moved["rope_scaling"] = section;
        return moved;
    }
}
