namespace MLNet.MoE;

/// <summary>
/// Low-rank adaptation (LoRA) of a model's projections, as PEFT's <c>LoraConfig</c>: the base weights stay frozen (and
/// bitwise untouched), and only the adapters' factors get gradients and optimizer state. Set it on
/// <see cref="LanguageModelOptions.Lora"/> or <see cref="MoeTextClassificationOptions.Lora"/> together with a base
/// model (an imported checkpoint, usually in bfloat16 on a GPU).
/// </summary>
public sealed class LoraOptions
{
    /// <summary>The module names PEFT's DeepSeek-V3 recipes target: every attention projection and the dense and shared-expert MLP projections.</summary>
    public static IReadOnlyList<string> AttentionAndMlpModules { get; } =
        new[] { "q_proj", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", "up_proj", "down_proj" };

    /// <summary>
    /// The default targets: every attention projection and the routed experts (batched). This is what PEFT 0.21 adapts
    /// in transformers 5's DeepseekV3 for its usual recipe (<c>q_proj … o_proj</c>, <c>gate_proj</c>, <c>up_proj</c>,
    /// <c>down_proj</c>): there the MLP names are mapped onto the fused expert parameters, so the dense and shared-expert
    /// MLPs stay frozen.
    /// </summary>
    public static IReadOnlyList<string> AttentionAndExperts { get; } =
        new[] { "q_proj", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "experts" };

    /// <summary>Every module name an adapter can target: the projections, <c>experts</c> (every routed expert, batched) and <c>lm_head</c>.</summary>
    public static IReadOnlyList<string> AdaptableModules { get; } =
        AttentionAndMlpModules.Concat(new[] { "experts", "lm_head" }).ToArray();

    /// <summary>The rank r of each adapter (default 16); at most the smaller side of every adapted matrix.</summary>
    public int Rank { get; set; } = 16;

    /// <summary>α: adapters add (α / r)·B·A (default 32, PEFT's usual 2·r).</summary>
    public double Alpha { get; set; } = 32;

    /// <summary>Dropout on each adapter's input during training (default 0).</summary>
    public double Dropout { get; set; }

    /// <summary>
    /// The modules to adapt, by Hugging Face module name: a name matches a module whose full name equals it or ends
    /// with "." and it (<c>q_proj</c> adapts every layer's, <c>model.layers.3.self_attn.q_proj</c> one). Default
    /// <see cref="AttentionAndExperts"/> (PEFT's targets for DeepSeek-V3); <see cref="AttentionAndMlpModules"/> adapts the
    /// dense and shared-expert MLPs instead of the routed experts.
    /// The router (<c>mlp.gate</c>) and the norms get no low-rank adapter (see <see cref="TrainRouter"/> and
    /// <see cref="TrainNorms"/>); the multi-token-prediction modules stay frozen.
    /// </summary>
    public IList<string> TargetModules { get; set; } = AttentionAndExperts.ToList();

    /// <summary>
    /// Trains every MoE layer's router matrix (<c>mlp.gate.weight</c> [E, H]) in full beside the adapters (default false),
    /// as PEFT's <c>modules_to_save</c> does: the adapters hold a float32 copy of each router matrix, made from the base's
    /// at the start, which every pass with the adapters uses instead of the base's (the base stays shared and untouched).
    /// The copies take the run's weight decay, as matrices do in full training. The selection bias
    /// <c>e_score_correction_bias</c> never trains: it is a buffer that only DeepSeek-V3's balancing rule moves, and a
    /// LoRA run keeps the base's. A model without MoE layers is refused.
    /// </summary>
    public bool TrainRouter { get; set; }

    /// <summary>
    /// Trains every RMSNorm scale in full beside the adapters (default false): each block's <c>input_layernorm</c> and
    /// <c>post_attention_layernorm</c>, the attention's <c>q_a_layernorm</c> and <c>kv_a_layernorm</c>, and the final
    /// <c>model.norm</c> (the multi-token-prediction modules' norms stay frozen, as those modules do under LoRA). As with
    /// <see cref="TrainRouter"/>, the adapters hold float32 copies that passes with the adapters use; the copies take no
    /// weight decay, as norm scales do in full training.
    /// </summary>
    public bool TrainNorms { get; set; }

    /// <summary>Checks the values, naming <paramref name="optionName"/> and the field at fault.</summary>
    internal void Validate(string optionName)
    {
        if (Rank < 1)
            throw new ArgumentOutOfRangeException(optionName, Rank, $"{optionName}.Rank must be at least 1.");
        if (!(Alpha > 0) || double.IsInfinity(Alpha))
            throw new ArgumentOutOfRangeException(optionName, Alpha, $"{optionName}.Alpha must be a positive finite number.");
        if (!(Dropout >= 0 && Dropout < 1))
            throw new ArgumentOutOfRangeException(optionName, Dropout, $"{optionName}.Dropout must be in [0, 1).");
        if (TargetModules is null || TargetModules.Count == 0)
            throw new ArgumentException($"{optionName}.TargetModules is empty: name at least one module ({string.Join(", ", AdaptableModules)}).", optionName);
        foreach (string target in TargetModules)
        {
            if (string.IsNullOrWhiteSpace(target))
                throw new ArgumentException($"{optionName}.TargetModules holds an empty name.", optionName);
            string last = target[(target.LastIndexOf('.') + 1)..];
            if (last == "gate")
                throw new ArgumentException($"{optionName}.TargetModules names '{target}': the router (mlp.gate) gets no low-rank adapter; set {optionName}.TrainRouter to train its matrix in full.", optionName);
            if (last.EndsWith("norm", StringComparison.Ordinal))
                throw new ArgumentException($"{optionName}.TargetModules names '{target}': norms get no low-rank adapter; set {optionName}.TrainNorms to train their scales in full.", optionName);
            if (!AdaptableModules.Contains(last, StringComparer.Ordinal))
                throw new ArgumentException($"{optionName}.TargetModules names '{target}', which is no adaptable module; the adaptable modules are {string.Join(", ", AdaptableModules)}.", optionName);
        }
    }
}
