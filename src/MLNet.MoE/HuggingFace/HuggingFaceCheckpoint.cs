using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Reads and writes Hugging Face <c>DeepseekV3ForCausalLM</c> checkpoint folders (<c>config.json</c>,
/// <c>generation_config.json</c>, <c>model.safetensors</c> or sharded files with an index).
/// <para>Import accepts experts stored per expert (<c>mlp.experts.{j}.{gate,up,down}_proj.weight</c>, as files on
/// disk hold them) or fused (<c>mlp.experts.gate_up_proj</c> [E, 2I, H], <c>mlp.experts.down_proj</c> [E, H, I]),
/// tensors in F32, BF16 or F16. Multi-token-prediction modules (<c>model.layers.{num_hidden_layers + k}.*</c>) are
/// optional: Hugging Face's own model neither reads nor writes them, so a checkpoint without them keeps freshly
/// initialised ones; a checkpoint with only some of their tensors is refused.</para>
/// <para>Export writes per-expert keys, as <c>save_pretrained</c> does, plus DeepSeek's MTP keys (each with its
/// copies of <c>embed_tokens</c> and <c>shared_head.head</c>) when the model has MTP modules.</para>
/// </summary>
internal static partial class HuggingFaceCheckpoint
{
    /// <summary>The name of the model config file.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The name of the generation config file.</summary>
    public const string GenerationConfigFileName = "generation_config.json";

    /// <summary>
    /// Loads the checkpoint in <paramref name="directory"/>: a float32 model on the CPU by default, or with weights
    /// created on <paramref name="placement"/>'s device in its type. Tensors are streamed one at a time from the files
    /// straight into the model's weights (converted on the device when the types differ), so host memory holds at most
    /// one stored tensor (one expert's matrix of a per-expert file) beside the model.
    /// </summary>
    /// <exception cref="FileNotFoundException">config.json or the weights are missing.</exception>
    /// <exception cref="InvalidDataException">A tensor is missing, unexpected, of the wrong shape or dtype (FP8 and integer weights are refused, naming the dtype), unreadable or not finite; the message names it and its file.</exception>
    public static MoeCausalLM Load(string directory, TensorPlacement? placement = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string full = Path.GetFullPath(directory);
        var config = MoeModelConfig.Load(Path.Combine(full, ConfigFileName));
        using var source = CheckpointTensorSource.Open(full);
        var targets = ModelTensorLayout.Of(config);
        // Check names and shapes of everything before allocating the model.
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        var plan = new List<(string Target, Action<Tensor> Fill)>();
        int mtpStart = config.NumHiddenLayers;
        bool hasMtpInFile = config.NumNextnPredictLayers > 0 && source.Names.Any(n => LayerIndex(n) is int l && l >= mtpStart);
        foreach (var (name, shape) in targets)
        {
            bool isMtp = LayerIndex(name) is int layer && layer >= mtpStart;
            if (isMtp && !hasMtpInFile) continue;
            if (ExpertTensor().Match(name) is { Success: true } fused)
            {
                plan.Add((name, PlanExperts(source, fused.Groups["prefix"].Value, fused.Groups["kind"].Value, shape, consumed)));
                continue;
            }
            RequireShape(source, name, shape);
            consumed.Add(name);
            plan.Add((name, target => CopyChecked(source, name, target)));
        }
        // DeepSeek's MTP layers repeat the shared embedding and head; accept and ignore those copies (their shape is checked).
        foreach (string name in source.Names)
        {
            if (LayerIndex(name) is int l && l >= mtpStart && (name.EndsWith(".embed_tokens.weight", StringComparison.Ordinal) || name.EndsWith(".shared_head.head.weight", StringComparison.Ordinal)))
            {
                RequireShape(source, name, new[] { (long)config.VocabSize, config.HiddenSize });
                consumed.Add(name);
            }
        }
        var unexpected = source.Names.Where(n => !consumed.Contains(n)).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"Checkpoint '{full}' holds tensors the config does not describe: {string.Join(", ", unexpected.Take(10))}{(unexpected.Count > 10 ? $" and {unexpected.Count - 10} more" : "")}.");
        var model = MoeCausalLM.ForLoading(config, placement ?? TensorPlacement.Cpu);
        try
        {
            // MTP modules the file does not hold are drawn fresh, as a model made from the config would have them.
            if (config.NumNextnPredictLayers > 0 && !hasMtpInFile)
                model.InitializeWeights(seed: 1, WeightInitialization.HuggingFace, name => LayerIndex(name) is int l && l >= mtpStart);
            var state = model.state_dict();
            using var noGrad = torch.no_grad();
            foreach (var (target, fill) in plan)
            {
                using var scope = torch.NewDisposeScope();
                fill(state[target]);
            }
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The type the checkpoint's weights are stored in, read from its output head (<c>lm_head.weight</c>): what a GPU load
    /// keeps when no weight type is asked for.
    /// </summary>
    /// <exception cref="InvalidDataException">The head is stored in a type model weights are not read from.</exception>
    public static ScalarType StoredWeightType(string directory)
    {
        using var source = CheckpointTensorSource.Open(directory);
        const string head = "lm_head.weight";
        string dtype = source.Contains(head) ? source.Info(head).DType : "F32";
        return dtype switch
        {
            "F32" => ScalarType.Float32,
            "BF16" => ScalarType.BFloat16,
            "F16" => ScalarType.Float16,
            _ => throw new InvalidDataException($"Tensor '{head}' in checkpoint '{source.Directory}' is stored as {dtype}; model weights are read from F32, BF16 or F16."),
        };
    }

    /// <summary>Reads tensor <paramref name="name"/> as stored, checks it is finite and copies it into <paramref name="target"/> (on its device, in its type).</summary>
    private static void CopyChecked(CheckpointTensorSource source, string name, Tensor target)
    {
        using var scope = torch.NewDisposeScope();
        var values = source.ReadAsStored(name);
        if (values.is_floating_point() && !torch.isfinite(values).all().item<bool>())
            throw new InvalidDataException($"Tensor '{name}' of checkpoint '{source.Directory}' holds NaN or infinite values.");
        target.copy_(values);
    }

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="directory"/> as a Hugging Face checkpoint: config.json,
    /// generation_config.json and safetensors (one file, or shards of at most <paramref name="maxShardBytes"/> with an
    /// index), in <paramref name="storeAs"/> (float32 by default; BF16 and F16 halve the size). Every file is written
    /// atomically.
    /// </summary>
    public static void Save(MoeCausalLM model, string directory, ScalarType storeAs = ScalarType.Float32, long maxShardBytes = 5L << 30)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (storeAs is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentOutOfRangeException(nameof(storeAs), storeAs, "Checkpoints are written in Float32, BFloat16 or Float16.");
        string full = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(full);
        using var scope = torch.NewDisposeScope();
        // state_dict lists buffers (e_score_correction_bias) after parameters; write in FileTensorShapes' order instead.
        var order = FileTensorShapes(model.Config).Select((t, i) => (t.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
        var tensors = ExportTensors(model).OrderBy(t => order[t.Key]).ToList();
        CheckpointTensorSource.WriteSharded(full, tensors, maxShardBytes, storeAs);
        var config = model.Config with
        {
            ExtraFields = new Dictionary<string, JsonNode?>(model.Config.ExtraFields) { ["dtype"] = storeAs switch { ScalarType.BFloat16 => "bfloat16", ScalarType.Float16 => "float16", _ => "float32" } },
        };
        config.Save(Path.Combine(full, ConfigFileName));
        var generation = new JsonObject
        {
            ["bos_token_id"] = model.Config.BosTokenId,
            ["eos_token_id"] = model.Config.EosTokenId,
            ["do_sample"] = false,
        };
        AtomicFile.WriteAllText(Path.Combine(full, GenerationConfigFileName), generation.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The file key names and shapes of a model with this config, in the order <see cref="Save"/> writes them
    /// (per-expert keys; for MTP modules also their copies of <c>embed_tokens</c> and <c>shared_head.head</c>, last).</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> FileTensorShapes(MoeModelConfig config)
    {
        var result = new List<(string, long[])>();
        foreach (var (name, shape) in ModelTensorLayout.Of(config))
        {
            if (ExpertTensor().Match(name) is { Success: true } m)
            {
                string prefix = m.Groups["prefix"].Value;
                long e = shape[0];
                for (int j = 0; j < e; j++)
                {
                    if (m.Groups["kind"].Value == "gate_up_proj")
                    {
                        result.Add(($"{prefix}.{j}.gate_proj.weight", new[] { shape[1] / 2, shape[2] }));
                        result.Add(($"{prefix}.{j}.up_proj.weight", new[] { shape[1] / 2, shape[2] }));
                    }
                    else
                    {
                        result.Add(($"{prefix}.{j}.down_proj.weight", new[] { shape[1], shape[2] }));
                    }
                }
            }
            else
            {
                result.Add((name, shape));
            }
        }
        for (int k = 0; k < config.NumNextnPredictLayers; k++)
        {
            result.Add(($"model.layers.{config.NumHiddenLayers + k}.embed_tokens.weight", new[] { (long)config.VocabSize, config.HiddenSize }));
            result.Add(($"model.layers.{config.NumHiddenLayers + k}.shared_head.head.weight", new[] { (long)config.VocabSize, config.HiddenSize }));
        }
        return result;
    }

    private static IEnumerable<KeyValuePair<string, Tensor>> ExportTensors(MoeCausalLM model)
    {
        var state = model.state_dict();
        int mtpStart = model.Config.NumHiddenLayers;
        foreach (var (name, tensor) in state)
        {
            if (name.Contains("rotary_emb", StringComparison.Ordinal)) continue;
            // Left where it lives: the writer moves one tensor at a time to host memory, so saving a model on a GPU
            // needs host memory for one tensor, not for the model.
            var value = tensor.detach();
            if (ExpertTensor().Match(name) is { Success: true } m)
            {
                string prefix = m.Groups["prefix"].Value;
                long experts = value.shape[0];
                for (int j = 0; j < experts; j++)
                {
                    var expert = value[j];
                    if (m.Groups["kind"].Value == "gate_up_proj")
                    {
                        long half = expert.shape[0] / 2;
                        yield return new($"{prefix}.{j}.gate_proj.weight", expert.narrow(0, 0, half).contiguous());
                        yield return new($"{prefix}.{j}.up_proj.weight", expert.narrow(0, half, half).contiguous());
                    }
                    else
                    {
                        yield return new($"{prefix}.{j}.down_proj.weight", expert.contiguous());
                    }
                }
                continue;
            }
            yield return new(name, value);
        }
        for (int k = 0; k < model.Config.NumNextnPredictLayers; k++)
        {
            yield return new($"model.layers.{mtpStart + k}.embed_tokens.weight", state["model.embed_tokens.weight"].detach());
            yield return new($"model.layers.{mtpStart + k}.shared_head.head.weight", state["lm_head.weight"].detach());
        }
    }

    private static Action<Tensor> PlanExperts(CheckpointTensorSource source, string prefix, string kind, long[] shape, HashSet<string> consumed)
    {
        string fusedName = $"{prefix}.{kind}";
        if (source.Contains(fusedName))
        {
            RequireShape(source, fusedName, shape);
            consumed.Add(fusedName);
            return target => CopyChecked(source, fusedName, target);
        }
        long experts = shape[0];
        var names = new List<string[]>();
        for (int j = 0; j < experts; j++)
        {
            if (kind == "gate_up_proj")
            {
                string gate = $"{prefix}.{j}.gate_proj.weight";
                string up = $"{prefix}.{j}.up_proj.weight";
                RequireShape(source, gate, new[] { shape[1] / 2, shape[2] });
                RequireShape(source, up, new[] { shape[1] / 2, shape[2] });
                names.Add(new[] { gate, up });
            }
            else
            {
                string down = $"{prefix}.{j}.down_proj.weight";
                RequireShape(source, down, new[] { shape[1], shape[2] });
                names.Add(new[] { down });
            }
        }
        foreach (var n in names.SelectMany(x => x)) consumed.Add(n);
        // Each expert's matrices go straight into their rows of the stacked weight: no stacked copy in host memory.
        return target =>
        {
            for (int j = 0; j < names.Count; j++)
            {
                long row = 0;
                foreach (string part in names[j])
                {
                    long rows = source.Info(part).Shape[0];
                    CopyChecked(source, part, target[j].narrow(0, row, rows));
                    row += rows;
                }
            }
        };
    }

    private static void RequireShape(CheckpointTensorSource source, string name, long[] shape)
    {
        if (!source.Contains(name))
            throw new InvalidDataException($"Checkpoint '{source.Directory}' is missing tensor '{name}' (shape [{string.Join(", ", shape)}]).");
        var info = source.Info(name);
        if (!info.Shape.SequenceEqual(shape))
            throw new InvalidDataException($"Tensor '{name}' in checkpoint '{source.Directory}' has shape [{string.Join(", ", info.Shape)}]; the config needs [{string.Join(", ", shape)}].");
        // Weights are floating point; an integer, boolean or FP8 tensor here means a wrong or quantised file, not one to convert silently.
        if (info.DType is not ("F32" or "BF16" or "F16"))
            throw new InvalidDataException($"Tensor '{name}' in checkpoint '{source.Directory}' is stored as {info.DType}; model weights are read from F32, BF16 or F16.");
    }

    private static int? LayerIndex(string name)
    {
        var m = LayerPrefix().Match(name);
        return m.Success ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    [GeneratedRegex(@"^model\.layers\.(\d+)\.")]
    private static partial Regex LayerPrefix();

    [GeneratedRegex(@"^(?<prefix>model\.layers\.\d+\.mlp\.experts)\.(?<kind>gate_up_proj|down_proj)$")]
    private static partial Regex ExpertTensor();
}
