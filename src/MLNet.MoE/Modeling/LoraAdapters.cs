using System.Security.Cryptography;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The LoRA adapters of one frozen base model: one <see cref="LoraLinearAdapter"/> per adapted projection and one
/// <see cref="LoraExpertAdapter"/> per adapted routed-expert stack, found by the module objects of the base, plus the
/// fully trained weights PEFT calls <c>modules_to_save</c> (<see cref="LoraOptions.TrainRouter"/>,
/// <see cref="LoraOptions.TrainNorms"/>): a float32 copy of each chosen router matrix or norm scale, owned here and used
/// by passes in place of the base's. The base is not changed: forward passes see the adapters through
/// <see cref="ForwardContext.Adapters"/>, so one base can serve several adapter sets, and the frozen weights stay
/// bitwise as they were. Tensor names follow PEFT's saved keys without its <c>base_model.model.</c> prefix
/// (<c>model.layers.0.self_attn.q_proj.lora_A.weight</c>); batched expert factors are named
/// <c>model.layers.{i}.mlp.experts.{gate_up_proj|down_proj}.lora_{A|B}</c>; a trained copy has its module's own key
/// (<c>model.layers.1.mlp.gate.weight</c>, <c>model.norm.weight</c>).
/// </summary>
internal sealed class LoraAdapters : IDisposable
{
    private readonly Dictionary<Linear, LoraLinearAdapter> linear = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<RoutedExperts, LoraExpertAdapter> experts = new(ReferenceEqualityComparer.Instance);
    private readonly List<(string Module, object Adapter)> ordered = new();
    private readonly Dictionary<nn.Module, Parameter> trainedWeights = new(ReferenceEqualityComparer.Instance);
    private readonly List<(string Module, nn.Module Owner, Parameter Weight)> trainedOrdered = new();

    private readonly Lazy<byte[]> baseDigest;

    private LoraAdapters(int rank, double alpha, double dropout, IReadOnlyList<string> targets, IReadOnlyList<string> modulesToSave, MoeCausalLM baseModel)
    {
        Rank = rank;
        Alpha = alpha;
        Dropout = dropout;
        TargetModules = targets;
        ModulesToSave = modulesToSave;
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

    /// <summary>
    /// The fully trained modules as PEFT's <c>modules_to_save</c> names them (a module matches a name its full name ends
    /// with, PEFT's rule): <see cref="RouterModule"/> for <see cref="LoraOptions.TrainRouter"/>, the norm names of
    /// <see cref="NormModules"/> for <see cref="LoraOptions.TrainNorms"/>; empty when only adapters train.
    /// </summary>
    public IReadOnlyList<string> ModulesToSave { get; }

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

    /// <summary>The routed-expert stacks' adapters, in no particular order.</summary>
    public IEnumerable<LoraExpertAdapter> ExpertAdapters => experts.Values;

    /// <summary>The full names of the modules whose weight trains in full (routers and norms), in model order.</summary>
    public IEnumerable<string> TrainedModules => trainedOrdered.Select(t => t.Module);

    /// <summary>
    /// The base's selection bias <c>e_score_correction_bias</c> [E] of every trained router, by its key
    /// (<c>model.layers.{i}.mlp.gate.e_score_correction_bias</c>): never trained, but part of the router's state that PEFT's
    /// <c>modules_to_save</c> saves and loads.
    /// </summary>
    public IEnumerable<(string Name, Tensor Bias)> TrainedRouterBiases() =>
        trainedOrdered.Where(t => t.Owner is ExpertRouter).Select(t => ($"{t.Module}.e_score_correction_bias", ((ExpertRouter)t.Owner).CorrectionBias));

    /// <summary>The trained copy of a router's matrix [E, H] (float32), or null when the router is not trained.</summary>
    public Parameter? WeightFor(ExpertRouter router) => trainedWeights.Count == 0 ? null : trainedWeights.GetValueOrDefault(router);

    /// <summary>The trained copy of a norm's scale (float32), or null when the norm is not trained.</summary>
    public Parameter? WeightFor(RmsNorm norm) => trainedWeights.Count == 0 ? null : trainedWeights.GetValueOrDefault(norm);

    /// <summary>PEFT's <c>modules_to_save</c> name of every MoE layer's router (<c>model.layers.{i}.mlp.gate</c>).</summary>
    public const string RouterModule = "mlp.gate";

    /// <summary>PEFT's <c>modules_to_save</c> names of the norms <see cref="LoraOptions.TrainNorms"/> trains (<c>q_a_layernorm</c> only where the attention has it).</summary>
    public static IReadOnlyList<string> NormModules { get; } = new[] { "input_layernorm", "post_attention_layernorm", "q_a_layernorm", "kv_a_layernorm", "model.norm" };

    /// <summary>
    /// New adapters (B = 0, so the model's function is unchanged) on every module of <paramref name="model"/> that
    /// <paramref name="options"/> targets, drawn from <paramref name="seed"/> on the model's device.
    /// </summary>
    /// <exception cref="ArgumentException">A target matches no module of this model, the rank exceeds a matrix's size, or <see cref="LoraOptions.TrainRouter"/> is set for a model without MoE layers; the message names the option.</exception>
    public static LoraAdapters Create(MoeCausalLM model, LoraOptions options, long seed, string optionName)
    {
        options.Validate(optionName);
        var modulesToSave = new List<string>();
        if (options.TrainRouter)
        {
            if (!model.MoeLayers().Any(m => m.Layer < model.Config.NumHiddenLayers))
                throw new ArgumentException($"{optionName}.TrainRouter is set, but this model has no MoE layer (no mlp.gate router to train): leave it unset for a dense model.", optionName);
            modulesToSave.Add(RouterModule);
        }
        if (options.TrainNorms)
            modulesToSave.AddRange(NormModules.Where(n => n != "q_a_layernorm" || model.Config.QLoraRank is not null));
        return Create(model, options, modulesToSave, seed, optionName);
    }

    /// <summary>
    /// New adapters as <see cref="Create(MoeCausalLM, LoraOptions, long, string)"/>, with the fully trained modules
    /// named by <paramref name="modulesToSave"/> (PEFT's names and matching rule; see <see cref="ModulesToSave"/>)
    /// instead of <see cref="LoraOptions.TrainRouter"/> and <see cref="LoraOptions.TrainNorms"/>.
    /// </summary>
    private static LoraAdapters Create(MoeCausalLM model, LoraOptions options, IReadOnlyList<string> modulesToSave, long seed, string optionName)
    {
        options.Validate(optionName);
        var adapters = new LoraAdapters(options.Rank, options.Alpha, options.Dropout, options.TargetModules.ToList(), modulesToSave.ToList(), model);
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
            using var noGrad = torch.no_grad();
            foreach (var (name, module) in FullyTrainedModules(model, modulesToSave, optionName))
            {
                // A float32 copy on the base weight's device, owned by the adapters: the base's tensor is only read.
                var weight = module switch
                {
                    ExpertRouter router => router.Weight,
                    RmsNorm norm => norm.Weight,
                    _ => throw new InvalidOperationException($"Module '{name}' is neither a router nor a norm."),
                };
                adapters.AddTrained(name, module, new Parameter(weight.detach().to(ScalarType.Float32).clone()));
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
    public static LoraAdapters FromFactors(MoeCausalLM model, int rank, double alpha, double dropout, IReadOnlyList<string> targets, IReadOnlyList<string> modulesToSave, IReadOnlyDictionary<string, Tensor> tensors, string source, bool allowMissing = false)
    {
        var options = new LoraOptions { Rank = rank, Alpha = alpha, Dropout = dropout, TargetModules = targets.ToList() };
        LoraAdapters adapters;
        try
        {
            adapters = Create(model, options, modulesToSave, seed: 0, optionName: source);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"The adapters in '{source}' do not fit this base model: {e.Message}", e);
        }
        try
        {
            var expected = adapters.FactorState();
            foreach (string name in tensors.Keys)
                if (!expected.ContainsKey(name)) throw new InvalidDataException($"The adapters in '{source}' hold '{name}', which is no factor of these targets ({string.Join(", ", targets)}) nor a weight of the modules to save ({(modulesToSave.Count == 0 ? "none" : string.Join(", ", modulesToSave))}) on this base model.");
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

    /// <summary>The factors and trained copies by name (see <see cref="NamedFactors"/>): what checkpoints, snapshots and the model zip store of the adapters.</summary>
    public Dictionary<string, Tensor> FactorState() => NamedFactors().ToDictionary(p => p.Name, p => (Tensor)p.Factor, StringComparer.Ordinal);

    /// <summary>Every trainable tensor (see <see cref="NamedFactors"/>).</summary>
    public IReadOnlyList<Parameter> Parameters() => NamedFactors().Select(p => p.Factor).ToList();

    /// <summary>
    /// Every trainable tensor with its name (see the class remarks): the LoRA factors in model order, then the trained
    /// router and norm copies in model order.
    /// </summary>
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
        foreach (var (module, _, weight) in trainedOrdered) yield return ($"{module}.weight", weight);
    }

    /// <summary>
    /// The trainable tensors split for weight decay by the rule of full training (<see cref="MoeCausalLM.SplitForWeightDecay"/>):
    /// the LoRA factors and trained router matrices take it, the trained norm scales do not.
    /// </summary>
    public (List<Parameter> Decay, List<Parameter> NoDecay) ParameterGroupsForWeightDecay() =>
        MoeCausalLM.SplitForWeightDecay(NamedFactors());

    /// <summary>
    /// Adds every adapter's (α/r)·B·A to the matching weight of <paramref name="target"/> (a copy of the base, with the
    /// same module names), computed in float32 and stored in the weight's type, and copies every trained router matrix
    /// and norm scale over the matching weight (in the weight's type).
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
        foreach (var (module, _, weight) in trainedOrdered)
            state[$"{module}.weight"].copy_(weight.detach());
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
        foreach (var (_, _, weight) in trainedOrdered) weight.Dispose();
        ordered.Clear();
        linear.Clear();
        experts.Clear();
        trainedOrdered.Clear();
        trainedWeights.Clear();
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

    private void AddTrained(string name, nn.Module module, Parameter weight)
    {
        trainedWeights.Add(module, weight);
        trainedOrdered.Add((name, module, weight));
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

    /// <summary>
    /// The routers and norms of the main blocks (and the final norm) that <paramref name="modulesToSave"/> names, in model
    /// order, matched as PEFT 0.21 matches <c>modules_to_save</c> (<c>peft.utils.other._set_trainable</c>: a module whose
    /// full name ends with an entry). Multi-token-prediction modules are skipped (transformers' DeepseekV3 has none, and
    /// LoRA turns their loss off).
    /// </summary>
    /// <exception cref="ArgumentException">An entry names a module other than a router or a norm, or matches none; the message names it.</exception>
    public static List<(string Name, nn.Module Module)> FullyTrainedModules(MoeCausalLM model, IReadOnlyList<string> modulesToSave, string optionName)
    {
        var found = new List<(string, nn.Module)>();
        if (modulesToSave.Count == 0) return found;
        if (modulesToSave.FirstOrDefault(string.IsNullOrWhiteSpace) is not null)
            throw new ArgumentException($"{optionName}: modules_to_save holds an empty name.", optionName);
        var matched = new HashSet<string>(StringComparer.Ordinal);
        int firstPrediction = model.Config.NumHiddenLayers;
        foreach (var (name, module) in model.named_modules())
        {
            if (name.Length == 0) continue;
            var hits = modulesToSave.Where(entry => name.EndsWith(entry, StringComparison.Ordinal)).ToList();
            if (hits.Count == 0) continue;
            if (LayerOf(name) is int layer && layer >= firstPrediction) continue;
            if (module is not (ExpertRouter or RmsNorm))
                throw new ArgumentException($"{optionName}: modules_to_save entry '{hits[0]}' names module '{name}', which is not trained in full here: only the routers (mlp.gate, LoraOptions.TrainRouter) and the RMSNorms (LoraOptions.TrainNorms) are.", optionName);
            foreach (string hit in hits) matched.Add(hit);
            found.Add((name, module));
        }
        if (modulesToSave.FirstOrDefault(entry => !matched.Contains(entry)) is { } unmatched)
            throw new ArgumentException($"{optionName}: modules_to_save entry '{unmatched}' matches no router or norm of this model's blocks.", optionName);
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
