using FsCheck;
using FsCheck.Fluent;

namespace MLNet.MoE.Tests.Fuzzing;

/// <summary>A damage to one entry of a model zip: inside the entry (the zip stays valid, its CRC-32 rewritten) or to the zip's raw bytes.</summary>
public sealed record ZipMutation(bool InsideEntry, int EntryIndex, FileMutation Damage);

/// <summary>A value written into one field of a JSON file (null: the field removed).</summary>
public sealed record JsonFieldEdit(string Field, string? JsonValue)
{
    /// <inheritdoc />
    public override string ToString() => $"{Field} = {JsonValue ?? "(removed)"}";
}

/// <summary>Edits of a Hugging Face config.json.</summary>
public sealed record ConfigEdits(JsonFieldEdit[] Edits)
{
    /// <inheritdoc />
    public override string ToString() => string.Join("; ", Edits.Select(e => e.ToString()));
}

/// <summary>Edits of a tokenizer.json.</summary>
public sealed record TokenizerEdits(JsonFieldEdit[] Edits)
{
    /// <inheritdoc />
    public override string ToString() => string.Join("; ", Edits.Select(e => e.ToString()));
}

/// <summary>Edits of a tokenizer.json aimed at text outside the Basic Multilingual Plane (a type of its own, so FsCheck picks its generator).</summary>
public sealed record AstralTokenizerEdits(JsonFieldEdit[] Edits)
{
    /// <inheritdoc />
    public override string ToString() => string.Join("; ", Edits.Select(e => e.ToString()));
}

/// <summary>FsCheck generators of the damaged inputs the loader properties take.</summary>
public static class FuzzArbitraries
{
    private static Gen<FileMutation> Mutation =>
        from kind in Gen.Elements(MutationKind.Flip, MutationKind.Flip, MutationKind.Truncate, MutationKind.Extend, MutationKind.Saturate)
        from position in Gen.Choose(0, 999_999)
        from amount in Gen.Choose(0, 1 << 20)
        select new FileMutation(kind, position, amount);

    /// <summary>Byte-level damage to a file.</summary>
    public static Arbitrary<FileMutation> FileMutations() => Mutation.ToArbitrary();

    /// <summary>Damage to a model zip.</summary>
    public static Arbitrary<ZipMutation> ZipMutations() =>
        (from inside in Gen.Elements(true, false)
         from entry in Gen.Choose(0, 63)
         from damage in Mutation
         select new ZipMutation(inside, entry, damage)).ToArbitrary();

    /// <summary>Values a hostile or broken config.json may hold.</summary>
    private static readonly string?[] ConfigValues =
    [
        null, "null", "0", "-1", "1", "2", "3", "7", "100000", "2147483647", "-2147483648", "9007199254740993", "1e308", "-1e308",
        "1e-320", "0.5", "2.5", "true", "false", "\"silu\"", "\"gelu\"", "\"NaN\"", "[]", "{}", "{\"rope_type\": \"yarn\", \"factor\": 1e308}",
        "{\"rope_type\": \"dynamic\"}", "\"x\"",
    ];

    private static readonly string[] ConfigFields =
    [
        "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "n_shared_experts", "n_routed_experts", "routed_scaling_factor", "kv_lora_rank", "q_lora_rank",
        "qk_rope_head_dim", "v_head_dim", "qk_nope_head_dim", "n_group", "topk_group", "num_experts_per_tok", "first_k_dense_replace",
        "norm_topk_prob", "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_parameters", "rope_scaling",
        "rope_interleave", "attention_bias", "tie_word_embeddings", "num_nextn_predict_layers", "scoring_func", "topk_method",
        "bos_token_id", "eos_token_id",
    ];

    /// <summary>Edits of a Hugging Face config.json: one to three fields set to odd values or removed.</summary>
    public static Arbitrary<ConfigEdits> ConfigEdit() =>
        (from count in Gen.Choose(1, 3)
         from edits in Gen.ArrayOf(from field in Gen.Elements(ConfigFields) from value in Gen.Elements(ConfigValues) select new JsonFieldEdit(field, value), count)
         select new ConfigEdits(edits)).ToArbitrary();

    /// <summary>Values a hostile or broken tokenizer.json may hold in the fields the loader reads.</summary>
    private static readonly (string Path, string?[] Values)[] TokenizerFields =
    [
        ("model.vocab.hello", ["2147483647", "-1", "5", "300", "1e9", "\"x\"", "null", "16777216", "16777215"]),
        ("model.vocab.Ġw", ["0", "97", "301", "1.5"]),
        ("model.type", ["\"WordPiece\"", "\"Unigram\"", "null", "1"]),
        ("model.end_of_word_suffix", ["\"</w>\"", "\"\"", "null", "5"]),
        ("model.continuing_subword_prefix", ["\"##\"", "\"h\"", "null"]),
        ("model.merges", ["[]", "[\"h e\", \"h e\"]", "[\"x y\"]", "[[\"h\"]]", "null", "[\"he\"]", "[\"h  e\"]"]),
        ("added_tokens", ["[]", "null", "[{\"id\": 97, \"content\": \"</s>\"}]", "[{\"id\": 300, \"content\": \"\"}]",
            "[{\"id\": 300, \"content\": \"</s>\"}, {\"id\": 300, \"content\": \"<pad>\"}]", "[{\"id\": -5, \"content\": \"</s>\"}]"]),
        ("pre_tokenizer.pretokenizers.0.pattern.Regex", ["\"(a+)+$\"", "\"(\\\\w+\\\\s?)+$\"", "\"(.*a){25}\"", "\"[\"", "\"(?<=a)b\"", "\"\"", "\"\\\\p{L}+\"", "\"(x+x+)+y\""]),
        ("pre_tokenizer.pretokenizers.0.behavior", ["\"Removed\"", "\"Contiguous\"", "\"Sideways\"", "3"]),
        ("pre_tokenizer.pretokenizers.1.type", ["\"Metaspace\"", "\"Digits\"", "\"ByteLevel\""]),
        ("pre_tokenizer", ["null", "{}", "{\"type\": \"ByteLevel\"}"]),
        ("normalizer", ["{\"type\": \"NFKC\"}", "{\"type\": \"Replace\"}", "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Lowercase\"}]}"]),
    ];

    /// <summary>Edits of a tokenizer.json: one to three fields set to odd values.</summary>
    public static Arbitrary<TokenizerEdits> TokenizerEdit() => EditsOf(TokenizerFields).ToArbitrary();

    /// <summary>
    /// Split patterns written around UTF-16 surrogates (every character outside the Basic Multilingual Plane is a pair of
    /// them): nested quantifiers that backtrack only on emoji, matchers of pairs, of one half, of flags' regional
    /// indicators and of zero-width joiners, and a back-reference.
    /// </summary>
    private static readonly string?[] AstralPatterns =
    [
        "\"(\\\\p{Cs}+)+!\"", "\"(\\\\p{Cs}|\\\\uD83D)+$\"", "\"(?:[\\\\uD800-\\\\uDBFF][\\\\uDC00-\\\\uDFFF])+\"", "\"\\\\uD83D\"",
        "\"\\\\uD83C[\\\\uDDE6-\\\\uDDFF]\"", "\"(?:\\\\u200D.)+\"", "\"(.)\\\\1+\"", "\"[^\\\\p{L}\\\\p{N}\\\\s]+\"", "\"(\\\\S+\\\\s?)+$\"",
    ];

    /// <summary>The tokenizer.json fields of <see cref="TokenizerFields"/>, with the first Split pattern drawn from <see cref="AstralPatterns"/> most of the time.</summary>
    private static readonly (string Path, string?[] Values)[] AstralTokenizerFields =
    [
        .. TokenizerFields,
        .. Enumerable.Repeat(("pre_tokenizer.pretokenizers.0.pattern.Regex", AstralPatterns), TokenizerFields.Length),
    ];

    /// <summary>Edits of a tokenizer.json for text outside the Basic Multilingual Plane: one to three fields, most often the Split pattern.</summary>
    public static Arbitrary<AstralTokenizerEdits> AstralTokenizerEdit() =>
        (from edits in EditsOf(AstralTokenizerFields) select new AstralTokenizerEdits(edits.Edits)).ToArbitrary();

    private static Gen<TokenizerEdits> EditsOf((string Path, string?[] Values)[] fields) =>
        from count in Gen.Choose(1, 3)
        from edits in Gen.ArrayOf(
            from field in Gen.Elements(fields)
            from value in Gen.Elements(field.Values)
            select new JsonFieldEdit(field.Path, value), count)
        select new TokenizerEdits(edits);
}
