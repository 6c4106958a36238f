namespace MLNet.MoE;

/// <summary>
/// The <c>metadata_props</c> an MLNet.MoE export writes into <c>model.onnx</c> and the ONNX scoring side reads back
/// (compiled into both assemblies from this one file), plus the names of the files of an export folder.
/// </summary>
internal static class OnnxMetadataKeys
{
    /// <summary>Marks a model written by MLNet.MoE; the value is <see cref="FormatName"/>.</summary>
    public const string Format = "mlnet_moe.format";

    /// <summary>The value of <see cref="Format"/>.</summary>
    public const string FormatName = "MLNet.MoE causal language model";

    /// <summary>Version of the graph's input/output contract.</summary>
    public const string FormatVersion = "mlnet_moe.format_version";

    /// <summary>The current value of <see cref="FormatVersion"/>.</summary>
    public const string CurrentFormatVersion = "1";

    /// <summary>
    /// The value of <see cref="FormatVersion"/> for a text classifier whose graph also reads the wide branch's n-grams
    /// (inputs <c>ngram_ids</c> and <c>ngram_weights</c>): readers of version 1 refuse it rather than fail at the first batch.
    /// </summary>
    public const string NgramFormatVersion = "2";

    /// <summary>Value of <see cref="Format"/> for an exported text classifier.</summary>
    public const string ClassifierFormatName = "MLNet.MoE text classifier";

    /// <summary>Number of classes of an exported classifier.</summary>
    public const string ClassCount = "mlnet_moe.class_count";

    /// <summary>The class names of an exported classifier (JSON array, in score order), when the label had key values.</summary>
    public const string ClassNames = "mlnet_moe.class_names";

    /// <summary>
    /// The item type of the class names of an exported classifier (<c>Text</c>, <c>Boolean</c>, <c>Single</c>, <c>Int32</c>,
    /// ...: the label's key type), so the ONNX transformer's <c>PredictedLabel</c> carries the same key values. Older
    /// exports lack it; their class names are read as text.
    /// </summary>
    public const string ClassNamesType = "mlnet_moe.class_names_type";

    /// <summary>The text column an exported classifier reads (older exports lack it: the loader then needs the name).</summary>
    public const string TextColumn = "mlnet_moe.text_column";

    /// <summary>The second text column an exported classifier reads; absent when it reads one text.</summary>
    public const string SecondTextColumn = "mlnet_moe.second_text_column";

    /// <summary>The predicted-label column an exported classifier adds (default <c>PredictedLabel</c>).</summary>
    public const string PredictedLabelColumn = "mlnet_moe.predicted_label_column";

    /// <summary>The class-probability column an exported classifier adds (default <c>Score</c>).</summary>
    public const string ScoreColumn = "mlnet_moe.score_column";

    /// <summary>Pooling of an exported classifier (<c>Mean</c> or <c>LastToken</c>).</summary>
    public const string Pooling = "mlnet_moe.pooling";

    /// <summary>Tokens per row at most (end-of-text tokens included) of an exported classifier.</summary>
    public const string MaxLength = "mlnet_moe.max_length";

    /// <summary>Buckets of an exported classifier's wide branch of hashed n-grams; absent when it has none.</summary>
    public const string NgramBuckets = "mlnet_moe.ngram_buckets";

    /// <summary>
    /// The <c>TextClassificationNgrams.HashVersion</c> an exported classifier's n-grams were hashed with (present with
    /// <see cref="NgramBuckets"/>); a scorer that hashes otherwise refuses the model.
    /// </summary>
    public const string NgramHashVersion = "mlnet_moe.ngram_hash_version";

    /// <summary>Hex SHA-256 of the weights (<c>OnnxWeightsDigest</c>), checked at load; absent in older exports.</summary>
    public const string WeightsSha256 = "mlnet_moe.weights_sha256";

    /// <summary>Hex SHA-256 of the exported tokenizer file (<see cref="TokenizerFileName"/>), checked when the folder's tokenizer is loaded.</summary>
    public const string TokenizerSha256 = "mlnet_moe.tokenizer_sha256";

    /// <summary>Token vocabulary (logits width).</summary>
    public const string VocabSize = "mlnet_moe.vocab_size";

    /// <summary>Blocks, one past/present key/value pair each.</summary>
    public const string NumHiddenLayers = "mlnet_moe.num_hidden_layers";

    /// <summary>Heads of the cached keys and values.</summary>
    public const string NumHeads = "mlnet_moe.num_attention_heads";

    /// <summary>Width of each cached key and value head (zero-padded).</summary>
    public const string CacheHeadSize = "mlnet_moe.cache_head_size";

    /// <summary>Longest sequence (the RoPE tables' length).</summary>
    public const string MaxPositions = "mlnet_moe.max_position_embeddings";

    /// <summary>
    /// The context the language model was trained and is scored with (tokens per scoring window and the generation
    /// context). Exports written before it existed lack it; readers then use <see cref="MaxPositions"/>.
    /// </summary>
    public const string ContextLength = "mlnet_moe.context_length";

    /// <summary>
    /// The generation options the language model was trained with (JSON of <c>GenerationOptions</c>), so the ONNX
    /// transformer generates as the TorchSharp one does by default. Older exports lack it.
    /// </summary>
    public const string Generation = "mlnet_moe.generation";

    /// <summary>float32, int8 or int4.</summary>
    public const string Weights = "mlnet_moe.weights";

    /// <summary>The model's Hugging Face config.json, for reference.</summary>
    public const string Config = "mlnet_moe.config";

    /// <summary>The graph file of an export folder.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>The external weights file, written when the weights exceed the protobuf limit.</summary>
    public const string ExternalDataFileName = "model.onnx.data";

    /// <summary>ONNX Runtime GenAI's configuration.</summary>
    public const string GenAIConfigFileName = "genai_config.json";

    /// <summary>The MLNet.MoE tokenizer (its own serialized form).</summary>
    public const string TokenizerFileName = "mlnet_moe_tokenizer.bin";

    /// <summary>A Hugging Face tokenizer file, written when the tokenizer came from one.</summary>
    public const string HuggingFaceTokenizerFileName = "tokenizer.json";

    /// <summary>The Hugging Face tokenizer settings file written beside <see cref="HuggingFaceTokenizerFileName"/>.</summary>
    public const string HuggingFaceTokenizerConfigFileName = "tokenizer_config.json";
}
