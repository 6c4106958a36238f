using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// LoRA adapters in PEFT's folder format, so <c>PeftModel.from_pretrained(base, folder)</c> loads what this library
/// trained and this library loads what PEFT trained: <c>adapter_config.json</c> (a <c>LoraConfig</c>) and
/// <c>adapter_model.safetensors</c> with PEFT's keys, <c>base_model.model.{module}.lora_A.weight</c> [r, in] and
/// <c>…lora_B.weight</c> [out, r], in float32. Routed-expert adapters take PEFT's layout for transformers 5's fused
/// expert parameters (<c>target_parameters</c> <c>gate_up_proj</c>, <c>down_proj</c>): per MoE layer
/// <c>mlp.experts.base_layer.lora_{A,B}.weight</c> for <c>gate_up_proj</c> (rank 2r through <c>rank_pattern</c>) and
/// <c>mlp.experts.lora_{A,B}.weight</c> for <c>down_proj</c>, A [E·r, in] expert-major and B [out, r·E] rank-major, as
/// PEFT's <c>ParamWrapper</c> reads them. Fully trained routers and norms (<see cref="LoraOptions.TrainRouter"/>,
/// <see cref="LoraOptions.TrainNorms"/>) are PEFT's <c>modules_to_save</c>: the config lists their names
/// (<see cref="LoraAdapters.ModulesToSave"/>) and the weights file holds each module's whole state under the module's
/// own key path, <c>base_model.model.model.layers.0.input_layernorm.weight</c>,
/// <c>base_model.model.model.layers.1.mlp.gate.weight</c> and, since transformers' <c>DeepseekV3TopkRouter</c> holds it
/// as a persistent buffer, <c>…mlp.gate.e_score_correction_bias</c> (the base's, unchanged: it never trains). That is
/// what PEFT 0.21 writes and reads: <c>get_peft_model_state_dict</c> (peft/utils/save_and_load.py) adds, for every
/// <c>ModulesToSaveWrapper</c> named <c>{name}</c>, <c>{name}.{k}</c> for each key <c>k</c> of the wrapped copy's
/// <c>state_dict()</c> (<c>ModulesToSaveWrapper.adapter_state_dict</c> in peft/utils/other.py drops its
/// <c>modules_to_save.{adapter}.</c> infix), and <c>set_peft_model_state_dict</c> looks up every one of those keys, so a
/// router saved without its bias would not load in PEFT. The safetensors metadata also records the SHA-256 of the base
/// weights (<see cref="LoraAdapters.WeightsDigest"/>) under <see cref="BaseDigestKey"/>; a load onto other base weights is
/// then refused. Files PEFT wrote carry no digest and are checked by names and shapes alone, and a router's saved bias
/// must equal the base's.
/// </summary>
internal static class PeftAdapterFiles
{
    /// <summary>The adapter config's file name.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>The adapter weights' file name.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>The safetensors metadata key of the base weights' SHA-256 (hex).</summary>
    public const string BaseDigestKey = "mlnet_moe.base_sha256";

    private const string KeyPrefix = "base_model.model.";
    private const string GateUpPattern = ".*\\.gate_up_proj";

    /// <summary>Writes <paramref name="adapters"/> to <paramref name="directory"/>, each file atomically.</summary>
    /// <exception cref="NotSupportedException">The adapters include dense or shared-expert MLP projections, which PEFT maps onto the routed experts.</exception>
    public static void Save(LoraAdapters adapters, MoeModelConfig config, string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        // PEFT (0.21, transformers 5) maps the names gate_proj, up_proj and down_proj onto the fused routed experts, so
        // adapters on the dense or shared-expert MLP projections have no PEFT form it would load back to the same modules.
        var mlp = adapters.AdaptedModules.FirstOrDefault(m => m.EndsWith(".gate_proj", StringComparison.Ordinal) || m.EndsWith(".up_proj", StringComparison.Ordinal) || m.EndsWith(".down_proj", StringComparison.Ordinal));
        if (mlp != null)
            throw new NotSupportedException($"The adapters include the MLP projection '{mlp}': PEFT maps the names gate_proj, up_proj and down_proj onto the fused routed experts of transformers' DeepseekV3, so it would not load them onto that module. Save the merged checkpoint with SaveHuggingFace, or train with LoraOptions.AttentionAndExperts.");
        string full = Path.GetFullPath(directory);
        Directory.CreateDirectory(full);
        using var scope = torch.NewDisposeScope();
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, factor) in adapters.NamedFactors())
        {
            var value = factor.detach().cpu();
            tensors.Add(new(KeyPrefix + ToPeftName(name), ToPeftLayout(name, value)));
        }
        // A trained router's whole state, as PEFT's modules_to_save saves it: its selection bias too, unchanged.
        foreach (var (name, bias) in adapters.TrainedRouterBiases())
            tensors.Add(new(KeyPrefix + name, bias.detach().to(ScalarType.Float32).cpu()));
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [BaseDigestKey] = Convert.ToHexStringLower(adapters.BaseDigest),
        };
        string weights = Path.Combine(full, WeightsFileName);
        string temp = AtomicFile.TempPathFor(weights);
        try
        {
            SafeTensorsWriter.Write(temp, tensors, metadata, ScalarType.Float32);
            File.Move(temp, weights, overwrite: true);
        }
        catch
        {
            AtomicFile.TryDelete(temp);
            throw;
        }
        var linearTargets = adapters.TargetModules.Where(t => t != "experts").ToList();
        var peftConfig = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["r"] = adapters.Rank,
            ["lora_alpha"] = adapters.Alpha,
            ["lora_dropout"] = adapters.Dropout,
            ["target_modules"] = new JsonArray(linearTargets.Select(t => (JsonNode?)t).ToArray()),
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["use_rslora"] = false,
            ["use_dora"] = false,
            ["init_lora_weights"] = true,
            ["inference_mode"] = true,
            ["modules_to_save"] = adapters.ModulesToSave.Count == 0 ? null : new JsonArray(adapters.ModulesToSave.Select(m => (JsonNode?)m).ToArray()),
            ["base_model_name_or_path"] = config.ExtraFields.TryGetValue("_name_or_path", out var name2) && name2 is JsonValue v && v.TryGetValue(out string? s) ? s : null,
        };
        if (adapters.AdaptsExperts)
        {
            // gate_up_proj first: PEFT wraps it innermost (base_layer), then down_proj around it.
            peftConfig["target_parameters"] = new JsonArray("gate_up_proj", "down_proj");
            peftConfig["rank_pattern"] = new JsonObject { [GateUpPattern] = 2 * adapters.Rank };
            peftConfig["alpha_pattern"] = new JsonObject { [GateUpPattern] = 2 * adapters.Alpha };
        }
        AtomicFile.WriteAllText(Path.Combine(full, ConfigFileName), peftConfig.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads the adapters in <paramref name="directory"/> for <paramref name="baseModel"/>.</summary>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">The config is not a plain LoRA config this library applies (DoRA, rsLoRA, per-module ranks, biases, fan-in-fan-out, <c>modules_to_save</c> naming modules other than routers and norms), a factor or trained weight is missing, extra or misshapen, a saved router bias differs from the base's, or the adapters were made for other base weights; the message names the file and the tensor or module.</exception>
    public static LoraAdapters Load(MoeCausalLM baseModel, string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string full = Path.GetFullPath(directory);
        string configPath = Path.Combine(full, ConfigFileName);
        string weightsPath = Path.Combine(full, WeightsFileName);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"'{full}' holds no PEFT adapter config ({ConfigFileName}).", configPath);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"'{full}' holds no PEFT adapter weights ({WeightsFileName}).", weightsPath);
        JsonObject peft;
        try
        {
            peft = JsonNode.Parse(File.ReadAllText(configPath))?.AsObject() ?? throw new InvalidDataException($"'{configPath}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{configPath}' is not valid JSON ({MessageText.Printable(e.Message)}).", e);
        }
        string Text(string field) => peft[field] is JsonValue value && value.TryGetValue(out string? s) ? s : "";
        if (Text("peft_type") != "LORA") throw new InvalidDataException($"'{configPath}': peft_type is '{Text("peft_type")}'; only LORA adapters are applied.");
        foreach (string flag in new[] { "use_dora", "use_rslora", "fan_in_fan_out" })
            if (peft[flag] is JsonValue f && f.TryGetValue(out bool on) && on) throw new InvalidDataException($"'{configPath}': {flag} is true; this library applies plain LoRA only.");
        if (Text("bias") is { Length: > 0 } bias && bias != "none") throw new InvalidDataException($"'{configPath}': bias is '{bias}'; this library applies adapters without biases.");
        var modulesToSave = peft["modules_to_save"] switch
        {
            null => new List<string>(),
            JsonArray saved when saved.All(n => n is JsonValue v && v.TryGetValue(out string? _)) => saved.Select(n => n!.GetValue<string>()).ToList(),
            _ => throw new InvalidDataException($"'{configPath}': modules_to_save is not a list of module names."),
        };
        List<(string Name, nn.Module Module)> fullyTrained;
        try
        {
            // Only routers and norms train in full here; any other module (an output head, embeddings) is refused by name.
            fullyTrained = LoraAdapters.FullyTrainedModules(baseModel, modulesToSave, $"'{configPath}'");
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
        int rank = peft["r"]?.GetValue<int>() ?? throw new InvalidDataException($"'{configPath}' has no 'r'.");
        double alpha = peft["lora_alpha"]?.GetValue<double>() ?? rank;
        var parameters = peft["target_parameters"] is JsonArray p ? p.Select(t => t?.GetValue<string>() ?? "").ToList() : new List<string>();
        bool experts = parameters.Count > 0;
        if (experts && !(parameters.Count == 2 && parameters[0] == "gate_up_proj" && parameters[1] == "down_proj"))
            throw new InvalidDataException($"'{configPath}': target_parameters is [{string.Join(", ", parameters)}]; this library applies PEFT's routed-expert adapters on [gate_up_proj, down_proj], in that order.");
        // One rank and α for every module, except that fused gate_up_proj adapters are 2r with 2α (the same scaling).
        var allowedPatterns = experts ? new Dictionary<string, double> { ["rank_pattern"] = 2 * rank, ["alpha_pattern"] = 2 * alpha } : new Dictionary<string, double>();
        foreach (string pattern in new[] { "rank_pattern", "alpha_pattern" })
        {
            if (peft[pattern] is not JsonObject o || o.Count == 0) continue;
            bool expected = o.Count == 1 && o[GateUpPattern] is JsonValue value && allowedPatterns.TryGetValue(pattern, out double wanted) && value.GetValue<double>() == wanted;
            if (!expected) throw new InvalidDataException($"'{configPath}': {pattern} sets per-module values; this library applies one rank and α to every module (and 2r, 2α to fused gate_up_proj experts).");
        }
        double dropout = peft["lora_dropout"]?.GetValue<double>() ?? 0;
        var targets = peft["target_modules"] switch
        {
            JsonArray array => array.Select(t => t?.GetValue<string>() ?? "").ToList(),
            JsonValue single when single.TryGetValue(out string? one) => new List<string> { one },
            _ => throw new InvalidDataException($"'{configPath}' has no 'target_modules' list."),
        };
        if (experts) targets.Add("experts");
        using var file = SafeTensorsFile.Open(weightsPath);
        if (file.Metadata.TryGetValue(BaseDigestKey, out string? recorded)
            && !string.Equals(recorded, Convert.ToHexStringLower(LoraAdapters.WeightsDigest(baseModel)), StringComparison.Ordinal))
            throw new InvalidDataException($"The adapters in '{weightsPath}' were made for other base weights (their recorded SHA-256 {recorded[..12]}… differs from this base's): load them onto the base they were trained on.");
        // No dispose scope here: the adapters' factors made below must outlive this call; the read tensors are freed in finally.
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (string key in file.Tensors.Keys)
        {
            // PEFT saves keys with the adapter name removed; some versions keep "base_model.model." and some a ".default" part.
            string name = key.StartsWith(KeyPrefix, StringComparison.Ordinal) ? key[KeyPrefix.Length..] : key;
            name = name.Replace(".lora_A.default.weight", ".lora_A.weight", StringComparison.Ordinal).Replace(".lora_B.default.weight", ".lora_B.weight", StringComparison.Ordinal);
            tensors[FromPeftName(name)] = FromPeftLayout(FromPeftName(name), file.ReadTensor(key, ScalarType.Float32), baseModel.Config.NRoutedExperts);
        }
        try
        {
            CheckRouterBiases(tensors, fullyTrained, weightsPath, file);
            return LoraAdapters.FromFactors(baseModel, rank, alpha, dropout, targets, modulesToSave, tensors, weightsPath);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"The adapters in '{weightsPath}' do not fit this base model: {e.Message}"), e);
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
    }

    /// <summary>
    /// Takes the selection biases of the trained routers out of <paramref name="tensors"/> (PEFT saves them with the
    /// router's weight), refusing one that differs from the base's: the bias never trains, so adapters whose router was
    /// saved with another bias were made on other base weights or with another balancing. The comparison is made in the
    /// file's type (transformers keeps the bias in float32). A router saved without its bias is accepted.
    /// </summary>
    private static void CheckRouterBiases(Dictionary<string, Tensor> tensors, List<(string Name, nn.Module Module)> fullyTrained, string weightsPath, SafeTensorsFile file)
    {
        const string BiasSuffix = ".e_score_correction_bias";
        foreach (var (name, module) in fullyTrained)
        {
            if (module is not ExpertRouter router || !tensors.TryGetValue(name + BiasSuffix, out var saved)) continue;
            string key = file.Tensors.ContainsKey(KeyPrefix + name + BiasSuffix) ? KeyPrefix + name + BiasSuffix : name + BiasSuffix;
            var stored = SafeTensorsDType.TryGetScalarType(file.Tensors[key].DType, out var type) ? type : ScalarType.Float32;
            using var scope = torch.NewDisposeScope();
            var expected = router.CorrectionBias.detach().cpu().to(stored).to(ScalarType.Float32);
            if (!saved.shape.SequenceEqual(expected.shape) || !saved.eq(expected).all().item<bool>())
                throw new InvalidDataException($"Tensor '{key}' in '{weightsPath}' differs from this base's selection bias: the bias of a router in modules_to_save never trains (it is saved unchanged), so these adapters were made for other base weights; load them onto the base they were trained on.");
            tensors.Remove(name + BiasSuffix);
            saved.Dispose();
        }
    }

    // Our batched expert factors ([E, r, in] and [E, out, r]) and PEFT's ParamWrapper layout (A [E·r, in], expert-major;
    // B [out, r·E], rank-major: column j·E + e is rank j of expert e).
    private static string ToPeftName(string name) => name
        .Replace(".experts.gate_up_proj.lora_A", ".experts.base_layer.lora_A.weight", StringComparison.Ordinal)
        .Replace(".experts.gate_up_proj.lora_B", ".experts.base_layer.lora_B.weight", StringComparison.Ordinal)
        .Replace(".experts.down_proj.lora_A", ".experts.lora_A.weight", StringComparison.Ordinal)
        .Replace(".experts.down_proj.lora_B", ".experts.lora_B.weight", StringComparison.Ordinal);

    private static string FromPeftName(string name) => name
        .Replace(".experts.base_layer.lora_A.weight", ".experts.gate_up_proj.lora_A", StringComparison.Ordinal)
        .Replace(".experts.base_layer.lora_B.weight", ".experts.gate_up_proj.lora_B", StringComparison.Ordinal)
        .Replace(".experts.lora_A.weight", ".experts.down_proj.lora_A", StringComparison.Ordinal)
        .Replace(".experts.lora_B.weight", ".experts.down_proj.lora_B", StringComparison.Ordinal);

    private static bool IsExpertFactor(string name) => name.Contains(".experts.", StringComparison.Ordinal);

    private static Tensor ToPeftLayout(string name, Tensor value)
    {
        if (!IsExpertFactor(name)) return value;
        long e = value.shape[0];
        return name.EndsWith("lora_A", StringComparison.Ordinal)
            ? value.reshape(e * value.shape[1], value.shape[2]).contiguous()
            : value.permute(1, 2, 0).reshape(value.shape[1], value.shape[2] * e).contiguous();
    }

    private static Tensor FromPeftLayout(string name, Tensor value, long experts)
    {
        if (!IsExpertFactor(name) || value.dim() != 2 || experts < 1) return value;
        if (name.EndsWith("lora_A", StringComparison.Ordinal))
            return value.shape[0] % experts == 0 ? value.reshape(experts, value.shape[0] / experts, value.shape[1]).contiguous() : value;
        return value.shape[1] % experts == 0 ? value.reshape(value.shape[0], value.shape[1] / experts, experts).permute(2, 0, 1).contiguous() : value;
    }
}
