using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// LoRA adapters in PEFT's folder format, so <c>PeftModel.from_pretrained(base, folder)</c> loads what this library
/// trained and this library loads what PEFT trained: <c>adapter_config.json</c> (a <c>LoraConfig</c>) and
/// <c>adapter_model.safetensors</c> with PEFT's keys, <c>base_model.model.{module}.lora_A.weight</c> [r, in] and
/// <c>…lora_B.weight</c> [out, r], in float32. The safetensors metadata also records the SHA-256 of the base weights
/// (<see cref="LoraAdapters.WeightsDigest"/>) under <see cref="BaseDigestKey"/>; a load onto other base weights is then
/// refused. Files PEFT wrote carry no digest and are checked by names and shapes alone.
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

    /// <summary>Writes <paramref name="adapters"/> to <paramref name="directory"/>, each file atomically.</summary>
    /// <exception cref="NotSupportedException">The adapters include batched routed-expert adapters, which PEFT's format does not describe.</exception>
    public static void Save(LoraAdapters adapters, MoeModelConfig config, string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (adapters.AdaptsExperts)
            throw new NotSupportedException("These adapters include batched routed-expert adapters (target 'experts'), which PEFT's adapter format does not describe: save the merged checkpoint with SaveHuggingFace instead, or keep the model zip.");
        string full = Path.GetFullPath(directory);
        Directory.CreateDirectory(full);
        var tensors = adapters.NamedFactors().Select(f => new KeyValuePair<string, Tensor>(KeyPrefix + f.Name, f.Factor.detach().cpu())).ToList();
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
        var peftConfig = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["r"] = adapters.Rank,
            ["lora_alpha"] = adapters.Alpha,
            ["lora_dropout"] = adapters.Dropout,
            ["target_modules"] = new JsonArray(adapters.TargetModules.Select(t => (JsonNode?)t).ToArray()),
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["use_rslora"] = false,
            ["use_dora"] = false,
            ["init_lora_weights"] = true,
            ["inference_mode"] = true,
            ["modules_to_save"] = null,
            ["base_model_name_or_path"] = config.ExtraFields.TryGetValue("_name_or_path", out var name) && name is JsonValue v && v.TryGetValue(out string? s) ? s : null,
        };
        AtomicFile.WriteAllText(Path.Combine(full, ConfigFileName), peftConfig.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads the adapters in <paramref name="directory"/> for <paramref name="baseModel"/>.</summary>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">The config is not a plain LoRA config this library applies (DoRA, rsLoRA, per-module ranks, biases, fan-in-fan-out), a factor is missing, extra or misshapen, or the adapters were made for other base weights; the message names the file.</exception>
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
        foreach (string pattern in new[] { "rank_pattern", "alpha_pattern" })
            if (peft[pattern] is JsonObject o && o.Count > 0) throw new InvalidDataException($"'{configPath}': {pattern} sets per-module values; this library applies one rank and α to every module.");
        if (peft["modules_to_save"] is JsonArray saved && saved.Count > 0) throw new InvalidDataException($"'{configPath}': modules_to_save lists fully trained modules, which this library does not apply.");
        int rank = peft["r"]?.GetValue<int>() ?? throw new InvalidDataException($"'{configPath}' has no 'r'.");
        double alpha = peft["lora_alpha"]?.GetValue<double>() ?? rank;
        double dropout = peft["lora_dropout"]?.GetValue<double>() ?? 0;
        var targets = peft["target_modules"] switch
        {
            JsonArray array => array.Select(t => t?.GetValue<string>() ?? "").ToList(),
            JsonValue single when single.TryGetValue(out string? one) => new List<string> { one },
            _ => throw new InvalidDataException($"'{configPath}' has no 'target_modules' list."),
        };
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
            tensors[name] = file.ReadTensor(key, ScalarType.Float32);
        }
        try
        {
            return LoraAdapters.FromFactors(baseModel, rank, alpha, dropout, targets, tensors, weightsPath);
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
}
