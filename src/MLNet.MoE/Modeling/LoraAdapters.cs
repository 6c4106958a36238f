using System.Security.Cryptography;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The LoRA adapters of one frozen base model: one <see cref="LoraLinearAdapter"/> per adapted projection and one
/// <see cref="LoraExpertAdapter"/> per adapted routed-expert stack, found by the module objects of the base. The base is
/// not changed: forward passes see the adapters through <see cref="ForwardContext.Adapters"/>, so one base can serve
/// several adapter sets, and the frozen weights stay bitwise as they were. Tensor names follow PEFT's saved keys
/// without its <c>base_model.model.</c> prefix (<c>model.layers.0.self_attn.q_proj.lora_A.weight</c>); batched expert
/// factors are named <c>model.layers.{i}.mlp.experts.{gate_up_proj|down_proj}.lora_{A|B}</c>.
/// </summary>
internal sealed class LoraAdapters : IDisposable
{
    private readonly Dictionary<Linear, LoraLinearAdapter> linear = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<RoutedExperts, LoraExpertAdapter> experts = new(ReferenceEqualityComparer.Instance);
    private readonly List<(string Module, object Adapter)> ordered = new();

    private readonly Lazy<byte[]> baseDigest;

    private LoraAdapters(int rank, double alpha, double dropout, IReadOnlyList<string> targets, MoeCausalLM baseModel)
    {
        Rank = rank;
        Alpha = alpha;
        Dropout = dropout;
        TargetModules = targets;
        // Hashing a checkpoint-scale base reads every weight once: done when first needed (saving, or checking a load), not at creation.
        baseDigest = new Lazy<byte[]>(() => WeightsDigest(baseModel));
    }

    /// <summary>The rank r.</summary>
    public int Rank { get; }

    /// <summary>α (adapters add α/r · B·A).</summary>
    public double Alpha { get; }

    /// <summary>Dropout on adapter inputs in training.</summary>
    public double Dropout { get; }

    /// <summary>The target names the adapters were made for (as given in <see cref="LoraOptions.TargetModules"/>).</summary>
    public IReadOnlyList<string> TargetModules { get; }

    /// <summary>SHA-256 of the frozen base's weights (<see cref="WeightsDigest"/>): adapters refuse any other base. Computed at first use.</summary>
    public byte[] BaseDigest => baseDigest.Value;

    /// <summary>The full names of the adapted modules, in model order.</summary>
    public IEnumerable<string> AdaptedModules => ordered.Select(o => o.Module);

    /// <summary>The adapter of a projection, or null when it is not adapted.</summary>
    public LoraLinearAdapter? For(Linear projection) => linear.GetValueOrDefault(projection);

    /// <summary>The adapter of a routed-expert stack, or null when it is not adapted.</summary>
    public LoraExpertAdapter? For(RoutedExperts stack) => experts.GetValueOrDefault(stack);

    /// <summary>Whether any routed-expert stack is adapted.</summary>
    public bool AdaptsExperts => experts.Count > 0;

    /// <summary>
    /// New adapters (B = 0, so the model's function is unchanged) on every module of <paramref name="model"/> that
    /// <paramref name="options"/> targets, drawn from <paramref name="seed"/> on the model's device.
    /// </summary>
    /// <exception cref="ArgumentException">A target matches no module of this model, or the rank exceeds a matrix's size; the message names it.</exception>
    public static LoraAdapters Create(MoeCausalLM model, LoraOptions options, long seed, string optionName)
    {
        options.Validate(optionName);
        var adapters = new LoraAdapters(options.Rank, options.Alpha, options.Dropout, options.TargetModules.ToList(), model);
        try
        {
            using var generator = new Generator((ulong)seed);
            double scaling = options.Alpha / options.Rank;
            foreach (var (name, module) in Targets(model, options.TargetModules, optionName))
            {
                if (module is Linear projection)
                {
                    long outFeatures = projection.weight!.shape[0], inFeatures = projection.weight!.shape[1];
                    RequireRank(options.Rank, name, Math.Min(outFeatures, inFeatures), optionName);
                    adapters.Add(name, projection, new LoraLinearAdapter(inFeatures, outFeatures, options.Rank, scaling, options.Dropout, model.Device, generator));
                }
                else if (module is RoutedExperts stack)
                {
                    long count = stack.DownProj.shape[0], hidden = stack.DownProj.shape[1], inner = stack.DownProj.shape[2];
                    RequireRank(options.Rank, name + ".down_proj", Math.Min(hidden, inner), optionName);
                    // gate_up_proj takes rank 2r (see LoraExpertAdapter).
                    RequireRank(options.Rank, name + ".gate_up_proj (rank 2r)", Math.Min(hidden, 2 * inner) / 2, optionName);
                    adapters.Add(name, stack, new LoraExpertAdapter(count, hidden, inner, options.Rank, scaling, model.Device, generator));
                }
            }
            return adapters;
        }
        catch
        {
            adapters.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Adapters for <paramref name="model"/> with the factors in <paramref name="tensors"/> (names as <see cref="NamedFactors"/>
    /// gives them): every adapted module of the targets must have both factors of the right shape (unless
    /// <paramref name="allowMissing"/>, for a caller that fills them next), and no other tensor may be present.
    /// </summary>
    /// <exception cref="InvalidDataException">A factor is missing, extra or of the wrong shape; the message names it and <paramref name="source"/>.</exception>
    public static LoraAdapters FromFactors(MoeCausalLM model, int rank, double alpha, double dropout, IReadOnlyList<string> targets, IReadOnlyDictionary<string, Tensor> tensors, string source, bool allowMissing = false)
    {
        var options = new LoraOptions { Rank = rank, Alpha = alpha, Dropout = dropout, TargetModules = targets.ToList() };
        LoraAdapters adapters;
        try
        {
            adapters = Create(model, options, seed: 0, optionName: source);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"The adapters in '{source}' do not fit this base model: {e.Message}", e);
        }
        try
        {
            var expected = adapters.FactorState();
            foreach (string name in tensors.Keys)
                if (!expected.ContainsKey(name)) throw new InvalidDataException($"The adapters in '{source}' hold '{name}', which is no factor of these targets ({string.Join(", ", targets)}) on this base model.");
            using var noGrad = torch.no_grad();
            foreach (var (name, factor) in expected)
            {
                if (!tensors.TryGetValue(name, out var value))
                {
                    if (allowMissing) continue;
                    throw new InvalidDataException($"The adapters in '{source}' are missing '{name}' (shape [{string.Join(", ", factor.shape)}]).");
                }
                if (!value.shape.SequenceEqual(factor.shape))
                    throw new InvalidDataException($"Adapter factor '{name}' in '{source}' has shape [{string.Join(", ", value.shape)}]; this base model needs [{string.Join(", ", factor.shape)}].");
                factor.copy_(value);
            }
            return adapters;
        }
        catch
        {
            adapters.Dispose();
            throw;
        }
    }

    /// <summary>The factors by name (see <see cref="NamedFactors"/>): what checkpoints, snapshots and the model zip store of the adapters.</summary>
    public Dictionary<string, Tensor> FactorState() => NamedFactors().ToDictionary(p => p.Name, p => (Tensor)p.Factor, StringComparer.Ordinal);

    /// <summary>Every trainable factor, in model order.</summary>
    public IReadOnlyList<Parameter> Parameters() => NamedFactors().Select(p => p.Factor).ToList();

    /// <summary>The factors with their names (see the class remarks), in model order.</summary>
    public IEnumerable<(string Name, Parameter Factor)> NamedFactors()
    {
        foreach (var (module, adapter) in ordered)
        {
            if (adapter is LoraLinearAdapter l)
            {
                yield return ($"{module}.lora_A.weight", l.A);
                yield return ($"{module}.lora_B.weight", l.B);
            }
            else if (adapter is LoraExpertAdapter e)
            {
                yield return ($"{module}.gate_up_proj.lora_A", e.GateUpA);
                yield return ($"{module}.gate_up_proj.lora_B", e.GateUpB);
                yield return ($"{module}.down_proj.lora_A", e.DownA);
                yield return ($"{module}.down_proj.lora_B", e.DownB);
            }
        }
    }

    /// <summary>
    /// Adds every adapter's (α/r)·B·A to the matching weight of <paramref name="target"/> (a copy of the base, with the
    /// same module names), computed in float32 and stored in the weight's type.
    /// </summary>
    public void MergeInto(MoeCausalLM target)
    {
        using var noGrad = torch.no_grad();
        var state = target.state_dict();
        foreach (var (module, adapter) in ordered)
        {
            using var scope = torch.NewDisposeScope();
            if (adapter is LoraLinearAdapter l)
            {
                var weight = state[$"{module}.weight"];
                weight.copy_(weight.to(ScalarType.Float32) + l.MergedDelta().to(weight.device));
            }
            else if (adapter is LoraExpertAdapter e)
            {
                var (gateUpDelta, downDelta) = e.MergedDelta();
                var gateUp = state[$"{module}.gate_up_proj"];
                var down = state[$"{module}.down_proj"];
                gateUp.copy_(gateUp.to(ScalarType.Float32) + gateUpDelta.to(gateUp.device));
                down.copy_(down.to(ScalarType.Float32) + downDelta.to(down.device));
            }
        }
    }

    /// <summary>
    /// SHA-256 over every weight and buffer of <paramref name="model"/> (name, shape and float32 values, in state-dict
    /// order, one tensor at a time through host memory): the identity adapters record of their base. Values are hashed
    /// as float32, so a bfloat16 base and its exact float32 copy (a model zip stores float32) have the same identity.
    /// </summary>
    public static byte[] WeightsDigest(MoeCausalLM model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, tensor) in model.state_dict())
        {
            if (name.Contains("rotary_emb", StringComparison.Ordinal)) continue;
            using var scope = torch.NewDisposeScope();
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{name}|{string.Join(",", tensor.shape)}\n"));
            var cpu = tensor.detach().to(ScalarType.Float32).contiguous().cpu();
            hash.AppendData(cpu.bytes);
        }
        return hash.GetHashAndReset();
    }

    /// <summary>Frees every factor.</summary>
    public void Dispose()
    {
        foreach (var (_, adapter) in ordered) ((IDisposable)adapter).Dispose();
        ordered.Clear();
        linear.Clear();
        experts.Clear();
    }

    private void Add(string name, Linear projection, LoraLinearAdapter adapter)
    {
        linear.Add(projection, adapter);
        ordered.Add((name, adapter));
    }

    private void Add(string name, RoutedExperts stack, LoraExpertAdapter adapter)
    {
        experts.Add(stack, adapter);
        ordered.Add((name, adapter));
    }

    private static void RequireRank(int rank, string module, long limit, string optionName)
    {
        if (rank > limit)
            throw new ArgumentException($"{optionName}.Rank ({rank}) exceeds the smaller side ({limit}) of module '{module}'s matrix: choose a rank of at most {limit}.", optionName);
    }

    /// <summary>The modules of the main blocks (and the head) matched by <paramref name="targets"/>, in model order.</summary>
    private static List<(string Name, nn.Module Module)> Targets(MoeCausalLM model, IList<string> targets, string optionName)
    {
        var found = new List<(string, nn.Module)>();
        var matched = new HashSet<string>(StringComparer.Ordinal);
        int firstPrediction = model.Config.NumHiddenLayers;
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not (Linear or RoutedExperts)) continue;
            // Multi-token-prediction modules only train the main model's future-token objective; they are not adapted.
            if (LayerOf(name) is int layer && layer >= firstPrediction) continue;
            if (name.EndsWith("eh_proj", StringComparison.Ordinal)) continue;
            var hits = targets.Where(t => name == t || name.EndsWith("." + t, StringComparison.Ordinal)).ToList();
            if (hits.Count == 0) continue;
            foreach (string hit in hits) matched.Add(hit);
            found.Add((name, module));
        }
        var unmatched = targets.Where(t => !matched.Contains(t)).ToList();
        if (found.Count == 0)
            throw new ArgumentException($"{optionName}.TargetModules ({string.Join(", ", targets)}) matches no module of this model.", optionName);
        var full = unmatched.Where(t => t.Contains('.', StringComparison.Ordinal)).ToList();
        if (full.Count > 0)
            throw new ArgumentException($"{optionName}.TargetModules names '{full[0]}', which is no module of this model.", optionName);
        return found;
    }

    private static int? LayerOf(string name)
    {
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int end = name.IndexOf('.', prefix.Length);
        return end > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, end - prefix.Length), out int layer) ? layer : null;
    }
}
