using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MLNet.MoE;

/// <summary>
/// Builds the ONNX graph (opset 23 + <c>com.microsoft</c>) of a <see cref="MoeCausalLM"/> in ONNX Runtime GenAI's
/// decoder layout: <c>input_ids</c>, <c>attention_mask</c>, <c>position_ids</c>, <c>past_key_values.{i}.key/value</c>
/// → <c>logits</c>, <c>present.{i}.key/value</c>. Multi-head latent attention is expressed as MatMuls, the norms as
/// <c>RMSNormalization</c>, RoPE as <c>RotaryEmbedding</c> (rotate-half; DeepSeek's interleaved pairs are reordered in
/// the projection weights instead), attention as <c>Attention</c> with past/present, DeepSeek routing in standard
/// operators, routed experts through <c>com.microsoft.MoE</c>/<c>QMoE</c> or standard operators. MTP modules are not
/// exported. The caches hold per-head keys (rotary part included) and values, each zero-padded to
/// <see cref="CacheHeadSize"/> = max(qk_head_dim, v_head_dim), because ONNX Runtime GenAI allocates key and value caches
/// of one head size. <see cref="BuildClassifier"/> builds a text classifier on the same blocks: no cache, pooling and a
/// classification head in place of the language-model head.
/// </summary>
internal sealed class OnnxDecoderGraph
{
    /// <summary>Opset of the default ONNX domain.</summary>
    public const int OnnxOpset = 23;

    /// <summary>ONNX IR version paired with opset 23.</summary>
    public const int IrVersion = 11;

    /// <summary>A text classifier's wide-branch table [buckets, C] (<see cref="MoeTextClassifier"/>'s parameter name, and the initializer's).</summary>
    private const string WideWeight = "wide.weight";

    private readonly MoeModelConfig config;
    private readonly OnnxExportOptions options;
    private readonly Dictionary<string, Tensor> weights;
    private readonly OnnxGraphBuilder g = new();
    private string cos = "";
    private string sin = "";
    private string mask = "";
    private string positionIds = "";
    private bool withCache = true;

    private OnnxDecoderGraph(MoeCausalLM model, OnnxExportOptions options)
    {
        config = model.Config;
        this.options = options;
        weights = model.state_dict();
    }

    /// <summary>Width of the cached per-head keys and values.</summary>
    public static int CacheHeadSize(MoeModelConfig config) => Math.Max(config.QkHeadDim, config.VHeadDim);

    /// <summary>Builds the model proto; <paramref name="metadata"/> goes to its <c>metadata_props</c>.</summary>
    public static ModelProto Build(MoeCausalLM model, OnnxExportOptions options, IReadOnlyDictionary<string, string> metadata)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var builder = new OnnxDecoderGraph(model, options);
        builder.BuildGraph();
        return builder.Proto(metadata);
    }

    /// <summary>
    /// Builds the graph of a text classifier: <c>input_ids</c> [B, S] and <c>attention_mask</c> [B, S] (1 on each row's
    /// tokens, 0 on the right padding) → <c>logits</c> [B, C] and <c>probabilities</c> [B, C] (softmax). The backbone runs
    /// without a cache; its final-normed hidden states are pooled as the classifier pools them and go through the head.
    /// A classifier with a wide branch also reads <c>ngram_ids</c> [B, M] (int64) and <c>ngram_weights</c> [B, M] (float32):
    /// each row's n-gram bucket ids and their weights, right-padded with id 0 and weight 0.
    /// </summary>
    public static ModelProto BuildClassifier(MoeTextClassifier model, OnnxExportOptions options, IReadOnlyDictionary<string, string> metadata)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var builder = new OnnxDecoderGraph(model.Backbone, options) { withCache = false };
        foreach (var (name, tensor) in model.state_dict())
        {
            if (name.StartsWith("head.", StringComparison.Ordinal) || name.StartsWith("head_hidden.", StringComparison.Ordinal) || name == WideWeight) builder.weights[name] = tensor;
        }
        builder.BuildClassifierGraph(model.ClassCount, model.Pooling, model.HeadHiddenSize > 0, model.NgramBuckets > 0);
        return builder.Proto(metadata);
    }

    private ModelProto Proto(IReadOnlyDictionary<string, string> metadata)
    {
        var proto = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "MLNet.MoE",
            ProducerVersion = typeof(OnnxDecoderGraph).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = g.Graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OnnxOpset });
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = OnnxGraphBuilder.MicrosoftDomain, Version = 1 });
        foreach (var (key, value) in metadata) proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return proto;
    }

    private void BuildClassifierGraph(int classCount, TextPooling pooling, bool hiddenLayer, bool wide)
    {
        string ids = g.Input("input_ids", DataType.Int64, "batch_size", "sequence_length");
        string attentionMask = g.Input("attention_mask", DataType.Int64, "batch_size", "sequence_length");
        string ngramIds = wide ? g.Input("ngram_ids", DataType.Int64, "batch_size", "ngram_count") : "";
        string ngramWeights = wide ? g.Input("ngram_weights", DataType.Float, "batch_size", "ngram_count") : "";
        g.Output("logits", DataType.Float, "batch_size", classCount);
        g.Output("probabilities", DataType.Float, "batch_size", classCount);
        // Positions 0..S-1 on every row (rows are right-padded, so each starts at position 0).
        string seq = Squeeze0(g.Node("Slice", new[] { g.Node("Shape", new[] { ids }), g.Int64s(1), g.Int64s(2) }));
        string range = g.Node("Range", new[] { g.Node("Squeeze", new[] { g.Int64s(0), g.Int64s(0) }), seq, g.Node("Squeeze", new[] { g.Int64s(1), g.Int64s(0) }) });
        positionIds = g.Node("Expand", new[] { g.Node("Unsqueeze", new[] { range, g.Int64s(0) }), g.Node("Shape", new[] { ids }) });
        string hidden = Backbone(ids, attentionMask);

        // Pooling as MoeTextClassifier.Pool: the mean over each row's tokens, or the hidden state of its last token.
        string lengths = g.Node("ReduceSum", new[] { attentionMask, g.Int64s(1) }, ("keepdims", 1L));
        string pooled;
        if (pooling == TextPooling.Mean)
        {
            string weight = g.Node("Unsqueeze", new[] { g.Node("Cast", new[] { attentionMask }, ("to", (long)DataType.Float)), g.Int64s(2) });
            string sum = g.Node("ReduceSum", new[] { g.Node("Mul", new[] { hidden, weight }), g.Int64s(1) }, ("keepdims", 0L));
            pooled = g.Node("Div", new[] { sum, g.Node("Cast", new[] { lengths }, ("to", (long)DataType.Float)) });
        }
        else
        {
            string last = g.Node("Unsqueeze", new[] { g.Node("Sub", new[] { lengths, g.Int64s(1) }), g.Int64s(2) });
            string index = g.Node("Expand", new[] { last, g.Int64s(1, 1, config.HiddenSize) });
            pooled = g.Node("Squeeze", new[] { g.Node("GatherElements", new[] { hidden, index }, ("axis", 1L)), g.Int64s(1) });
        }
        if (hiddenLayer) pooled = g.Node("Tanh", new[] { Linear(pooled, "head_hidden.weight", Bias("head_hidden.bias")) });
        string logits = Linear(pooled, "head.weight", Bias("head.bias"));
        if (wide) logits = g.Node("Add", new[] { logits, WideLogits(ngramIds, ngramWeights) });
        g.NodeTo("logits", "Identity", new[] { logits });
        g.NodeTo("probabilities", "Softmax", new[] { "logits" }, ("axis", -1L));
    }

    /// <summary>
    /// The wide branch's logits [B, C] as <see cref="MoeTextClassifier"/> adds them: Σ over a row's occurrences of its
    /// weight × the bucket's row of the table, here over the padded [B, M] occurrences (padding has weight 0). The table is
    /// gathered, as the token embedding is, so it is stored as the embedding is: float16/bfloat16 for those weight types,
    /// float32 otherwise (int8/int4 quantize matrix products, not gathered tables).
    /// </summary>
    private string WideLogits(string ngramIds, string ngramWeights)
    {
        string table = MatrixWeight(WideWeight, Tensor(WideWeight));                                              // [buckets, C]
        string gathered = g.Node("Gather", new[] { table, ngramIds }, ("axis", 0L));                              // [B, M, C]
        string weighted = g.Node("Mul", new[] { gathered, g.Node("Unsqueeze", new[] { ngramWeights, g.Int64s(-1) }) });
        return g.Node("ReduceSum", new[] { weighted, g.Int64s(1) }, ("keepdims", 0L));
    }

    private void BuildGraph()
    {
        int layers = config.NumHiddenLayers;
        int heads = config.NumAttentionHeads;
        int cacheHead = CacheHeadSize(config);
        string ids = g.Input("input_ids", DataType.Int64, "batch_size", "sequence_length");
        string attentionMask = g.Input("attention_mask", DataType.Int64, "batch_size", "total_sequence_length");
        positionIds = g.Input("position_ids", DataType.Int64, "batch_size", "sequence_length");
        for (int i = 0; i < layers; i++)
        {
            g.Input($"past_key_values.{i}.key", DataType.Float, "batch_size", heads, "past_sequence_length", cacheHead);
            g.Input($"past_key_values.{i}.value", DataType.Float, "batch_size", heads, "past_sequence_length", cacheHead);
        }
        g.Output("logits", DataType.Float, "batch_size", "sequence_length", config.VocabSize);
        for (int i = 0; i < layers; i++)
        {
            g.Output($"present.{i}.key", DataType.Float, "batch_size", heads, "total_sequence_length", cacheHead);
            g.Output($"present.{i}.value", DataType.Float, "batch_size", heads, "total_sequence_length", cacheHead);
        }
        LinearTo("logits", Backbone(ids, attentionMask), "lm_head.weight", null);
    }

    /// <summary>Embedding, decoder blocks and final norm: the final-normed hidden states [B, S, H].</summary>
    private string Backbone(string ids, string attentionMask)
    {
        RotaryTables();
        mask = AttentionMask(ids, attentionMask);
        var embedding = Tensor("model.embed_tokens.weight");
        string h = g.Node("Gather", new[] { MatrixWeight("model.embed_tokens.weight", embedding), ids }, ("axis", 0L));
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string prefix = $"model.layers.{i}.";
            string attention = Attention(i, RmsNorm(h, prefix + "input_layernorm.weight"));
            h = g.Node("Add", new[] { h, attention });
            string normed = RmsNorm(h, prefix + "post_attention_layernorm.weight");
            string mlp = config.IsMoeLayer(i) ? MoeFeedForward(prefix + "mlp.", normed) : SwiGlu(prefix + "mlp.", normed);
            h = g.Node("Add", new[] { h, mlp });
        }
        return RmsNorm(h, "model.norm.weight");
    }

    // ---- building blocks ----

    /// <summary>cos/sin tables [max_position_embeddings, d_R/2] from the model's own rotary embedding (YaRN attention factor included).</summary>
    private void RotaryTables()
    {
        using var rope = new RotaryEmbedding(config);
        var positions = torch.arange(config.MaxPositionEmbeddings, dtype: ScalarType.Int64);
        var (c, s) = rope.CosSin(positions);
        int half = config.QkRopeHeadDim / 2;
        cos = g.Initializer("rope.cos_cache", Floats(c.narrow(1, 0, half)), config.MaxPositionEmbeddings, half);
        sin = g.Initializer("rope.sin_cache", Floats(s.narrow(1, 0, half)), config.MaxPositionEmbeddings, half);
    }

    /// <summary>
    /// Additive mask [B, 1, S, T]: 0 where key column j may be seen by new token i (j ≤ past + i and attention_mask[b, j] = 1),
    /// −1e30 elsewhere (finite, so a fully padded row gives no NaN).
    /// </summary>
    private string AttentionMask(string ids, string attentionMask)
    {
        string seq = Squeeze0(g.Node("Slice", new[] { g.Node("Shape", new[] { ids }), g.Int64s(1), g.Int64s(2) }));
        string total = Squeeze0(g.Node("Slice", new[] { g.Node("Shape", new[] { attentionMask }), g.Int64s(1), g.Int64s(2) }));
        string past = g.Node("Sub", new[] { total, seq });
        string one = g.Node("Squeeze", new[] { g.Int64s(1), g.Int64s(0) });
        string zero = g.Node("Squeeze", new[] { g.Int64s(0), g.Int64s(0) });
        string rows = g.Node("Unsqueeze", new[] { g.Node("Range", new[] { past, total, one }), g.Int64s(1) });
        string cols = g.Node("Unsqueeze", new[] { g.Node("Range", new[] { zero, total, one }), g.Int64s(0) });
        string causal = g.Node("LessOrEqual", new[] { cols, rows });
        string padding = g.Node("Unsqueeze", new[] { g.Node("Cast", new[] { attentionMask }, ("to", (long)DataType.Bool)), g.Int64s(1, 2) });
        string visible = g.Node("And", new[] { causal, padding });
        return g.Node("Where", new[] { visible, g.Scalar(0f), g.Scalar(-1e30f) });
    }

    private string Squeeze0(string oneElement) => g.Node("Squeeze", new[] { oneElement, g.Int64s(0) });

    private string RmsNorm(string x, string weightName) =>
        g.Node("RMSNormalization", new[] { x, FloatWeight(weightName) }, ("axis", -1L), ("epsilon", (float)config.RmsNormEps));

    /// <summary>Multi-head latent attention of block <paramref name="layer"/> for x [B, S, H] → [B, S, H].</summary>
    private string Attention(int layer, string x)
    {
        string p = $"model.layers.{layer}.self_attn.";
        int heads = config.NumAttentionHeads;
        int nope = config.QkNopeHeadDim;
        int ropeDim = config.QkRopeHeadDim;
        int qkHead = config.QkHeadDim;
        int vHead = config.VHeadDim;
        int rank = config.KvLoraRank;
        int cacheHead = CacheHeadSize(config);

        // Queries [B, n_h, S, qk_head_dim]; rotary rows of the projection reordered so RoPE is rotate-half.
        string q;
        if (config.QLoraRank is int)
        {
            string qa = Linear(x, p + "q_a_proj.weight", Bias(p + "q_a_proj.bias"));
            q = Linear(RmsNorm(qa, p + "q_a_layernorm.weight"), p + "q_b_proj.weight", null, RopeRowsOfQuery);
        }
        else
        {
            q = Linear(x, p + "q_proj.weight", null, RopeRowsOfQuery);
        }
        q = Heads(q, heads, qkHead);
        string qRot = Rotate(Slice(q, 3, nope, qkHead));
        string query = nope > 0 ? g.Node("Concat", new[] { Slice(q, 3, 0, nope), qRot }, ("axis", 3L)) : qRot;

        // Keys and values from the shared latent; one rotary key [B, 1, S, d_R] broadcast to every head.
        string compressed = Linear(x, p + "kv_a_proj_with_mqa.weight", Bias(p + "kv_a_proj_with_mqa.bias", RopeRowsOfLatent), RopeRowsOfLatent);
        string latent = Slice(compressed, 2, 0, rank);
        string kRot = g.Node("Transpose", new[] { g.Node("Reshape", new[] { Slice(compressed, 2, rank, rank + ropeDim), g.Int64s(0, 0, 1, ropeDim) }) }, ("perm", new long[] { 0, 2, 1, 3 }));
        kRot = g.Node("Expand", new[] { Rotate(kRot), g.Node("Shape", new[] { qRot }) });
        string kv = Heads(Linear(RmsNorm(latent, p + "kv_a_layernorm.weight"), p + "kv_b_proj.weight", null), heads, nope + vHead);
        string key = nope > 0 ? g.Node("Concat", new[] { Slice(kv, 3, 0, nope), kRot }, ("axis", 3L)) : kRot;
        string value = Slice(kv, 3, nope, nope + vHead);

        // Zero-pad to the cache head size (zeros change neither q·k nor the attention output's first v_head_dim features).
        query = PadLast(query, cacheHead - qkHead);
        key = PadLast(key, cacheHead - qkHead);
        value = PadLast(value, cacheHead - vHead);
        string[] outputs = withCache
            ? g.NodeWithOutputs("Attention",
                new[] { query, key, value, mask, $"past_key_values.{layer}.key", $"past_key_values.{layer}.value" }, 3, null,
                new (string, object)[] { ("scale", (float)config.SoftmaxScale) },
                new[] { g.Fresh("attention"), $"present.{layer}.key", $"present.{layer}.value" })
            : g.NodeWithOutputs("Attention", new[] { query, key, value, mask }, 1, null, new (string, object)[] { ("scale", (float)config.SoftmaxScale) });
        string attended = cacheHead > vHead ? Slice(outputs[0], 3, 0, vHead) : outputs[0];
        string merged = g.Node("Reshape", new[] { g.Node("Transpose", new[] { attended }, ("perm", new long[] { 0, 2, 1, 3 })), g.Int64s(0, 0, (long)heads * vHead) });
        return Linear(merged, p + "o_proj.weight", Bias(p + "o_proj.bias"));
    }

    /// <summary>[B, S, heads·width] → [B, heads, S, width].</summary>
    private string Heads(string x, int heads, int width) =>
        g.Node("Transpose", new[] { g.Node("Reshape", new[] { x, g.Int64s(0, 0, heads, width) }) }, ("perm", new long[] { 0, 2, 1, 3 }));

    /// <summary>Rotate-half RoPE of x [B, heads, S, d_R] at <c>position_ids</c>.</summary>
    private string Rotate(string x) =>
        g.Node("RotaryEmbedding", new[] { x, cos, sin, positionIds }, ("interleaved", 0L));

    private string Slice(string x, long axis, long start, long end) =>
        g.Node("Slice", new[] { x, g.Int64s(start), g.Int64s(end), g.Int64s(axis) });

    private string PadLast(string x, int extra) =>
        extra == 0 ? x : g.Node("Pad", new[] { x, g.Int64s(0, 0, 0, 0, 0, 0, 0, extra) });

    /// <summary>Dense SwiGLU: down(silu(gate(x)) · up(x)).</summary>
    private string SwiGlu(string prefix, string x)
    {
        string gate = Linear(x, prefix + "gate_proj.weight", null);
        string up = Linear(x, prefix + "up_proj.weight", null);
        return Linear(Silu(gate, up), prefix + "down_proj.weight", null);
    }

    private string Silu(string gate, string up) => g.Node("Mul", new[] { g.Node("Mul", new[] { gate, g.Node("Sigmoid", new[] { gate }) }), up });

    /// <summary>DeepSeekMoE feed-forward for x [B, S, H]: routed experts (DeepSeek routing in standard operators) plus shared experts.</summary>
    private string MoeFeedForward(string prefix, string x)
    {
        int experts = config.NRoutedExperts;
        int k = config.NumExpertsPerTok;
        int groups = config.NGroup;
        string flat = g.Node("Reshape", new[] { x, g.Int64s(-1, config.HiddenSize) });
        string logits = g.Node("MatMul", new[] { flat, TransposedFloatWeight(prefix + "gate.weight") });
        var modes = RoutingModes.Of(config);
        string scores = modes.Scoring switch
        {
            RouterScoring.Sigmoid => g.Node("Sigmoid", new[] { logits }),
            RouterScoring.Softmax => g.Node("Softmax", new[] { logits }, ("axis", -1L)),
            var other => throw RoutingModes.Unsupported(other),
        };
        string choice = modes.UsesSelectionBias ? g.Node("Add", new[] { scores, FloatWeight(prefix + "gate.e_score_correction_bias") }) : scores;
        if (modes.IsGroupLimited && groups > 1)
        {
            string byGroup = g.Node("Reshape", new[] { choice, g.Int64s(-1, groups, experts / groups) });
            string groupScores = modes.Selection switch
            {
                ExpertSelection.NoAuxTopK => g.Node("ReduceSum", new[] { TopK(byGroup, 2)[0], g.Int64s(-1) }, ("keepdims", 0L)),
                ExpertSelection.GroupLimitedGreedy => g.Node("ReduceMax", new[] { byGroup, g.Int64s(-1) }, ("keepdims", 0L)),
                var other => throw RoutingModes.Unsupported(other),
            };
            string groupIndex = TopK(groupScores, config.TopkGroup)[1];
            string groupMask = g.Node("ScatterElements", new[] { Filled(groupScores, 0f), groupIndex, Filled(groupIndex, 1f) }, ("axis", 1L));
            string keep = g.Node("Cast", new[] { g.Node("Unsqueeze", new[] { groupMask, g.Int64s(-1) }) }, ("to", (long)DataType.Bool));
            keep = g.Node("Reshape", new[] { g.Node("Expand", new[] { keep, g.Node("Shape", new[] { byGroup }) }), g.Int64s(-1, experts) });
            choice = g.Node("Where", new[] { keep, choice, g.Scalar(0f) });
        }
        string indices = TopK(choice, k)[1];
        string weights = g.Node("GatherElements", new[] { scores, indices }, ("axis", 1L));
        if (config.NormTopkProb)
        {
            string sum = g.Node("ReduceSum", new[] { weights, g.Int64s(1) }, ("keepdims", 1L));
            weights = g.Node("Div", new[] { weights, g.Node("Add", new[] { sum, g.Scalar(1e-20f) }) });
        }
        if (config.RoutedScalingFactor != 1.0) weights = g.Node("Mul", new[] { weights, g.Scalar((float)config.RoutedScalingFactor) });

        string routed = options.Experts == OnnxExpertKernel.MoeOperator
            ? FusedExperts(prefix, flat, logits, indices, weights)
            : StandardExperts(prefix, flat, logits, indices, weights);
        string output = config.NSharedExperts > 0 ? g.Node("Add", new[] { routed, SwiGlu(prefix + "shared_experts.", flat) }) : routed;
        return g.Node("Reshape", new[] { output, g.Node("Shape", new[] { x }) });
    }

    private string[] TopK(string x, long k) =>
        g.NodeWithOutputs("TopK", new[] { x, g.Int64s(k) }, 2, null, new (string, object)[] { ("axis", -1L), ("largest", 1L), ("sorted", 1L) });

    /// <summary>A float32 tensor of the shape of <paramref name="like"/>, filled with <paramref name="value"/>.</summary>
    private string Filled(string like, float value)
    {
        var tensor = new TensorProto { DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) };
        tensor.Dims.Add(1);
        return g.Node("ConstantOfShape", new[] { g.Node("Shape", new[] { like }) }, ("value", tensor));
    }

    /// <summary>
    /// Routed experts through <c>com.microsoft.MoE</c>/<c>QMoE</c>. The operator routes by a softmax over its router input
    /// and can renormalise the top-k; fed log(w) for the chosen experts and −1e9 elsewhere, its weights become w_i/Σw,
    /// and the output is scaled back by Σw, which gives Σ w_i · expert_i(x) for DeepSeek's own weights w.
    /// </summary>
    private string FusedExperts(string prefix, string flat, string logits, string indices, string weights)
    {
        string router = g.Node("ScatterElements", new[] { Filled(logits, -1e9f), indices, g.Node("Log", new[] { weights }) }, ("axis", 1L));
        var attributes = new List<(string, object)>
        {
            ("k", (long)config.NumExpertsPerTok),
            ("activation_type", "swiglu"),
            ("swiglu_fusion", 1L),
            ("normalize_routing_weights", 1L),
            ("activation_alpha", 1f),
            ("activation_beta", 0f),
            ("swiglu_limit", float.MaxValue),
        };
        var gateUp = Tensor(prefix + "experts.gate_up_proj");   // [E, 2I, H], gate rows then up rows
        var down = Tensor(prefix + "experts.down_proj");        // [E, H, I]
        long e = gateUp.shape[0], twoI = gateUp.shape[1], hidden = gateUp.shape[2], inter = twoI / 2;
        // Interleave: row 2i = gate_i, row 2i + 1 = up_i (the CPU kernel's fused SwiGLU layout).
        var interleaved = gateUp.view(e, 2, inter, hidden).transpose(1, 2).reshape(e, twoI, hidden).contiguous();
        string moe;
        if (!Quantized)
        {
            string fc1 = MatrixWeight(prefix + "experts.fc1", interleaved);
            string fc2 = MatrixWeight(prefix + "experts.fc2", down);
            moe = g.NodeIn(OnnxGraphBuilder.MicrosoftDomain, "MoE", new[] { flat, router, fc1, "", fc2 }, attributes.ToArray());
        }
        else
        {
            int bits = options.Weights == OnnxWeightType.Int8 ? 8 : 4;
            // 4 bits: block-wise scales when both inner widths hold whole blocks. Otherwise, and always for 8 bits, one scale
            // per row: ONNX Runtime 1.31's CPU QMoE gave wrong results for block-wise 8-bit weights (the parity tests caught it).
            int block = bits == 4 && hidden % options.BlockSize == 0 && inter % options.BlockSize == 0 ? options.BlockSize : 0;
            var q1 = WeightQuantizer.Quantize(Floats(interleaved), e * twoI, hidden, bits, block == 0 ? (int)hidden : block);
            var q2 = WeightQuantizer.Quantize(Floats(down), e * hidden, inter, bits, block == 0 ? (int)inter : block);
            string fc1 = g.RawInitializer(prefix + "experts.fc1.q", DataType.Uint8, q1.Packed, e, twoI, hidden * bits / 8);
            string fc2 = g.RawInitializer(prefix + "experts.fc2.q", DataType.Uint8, q2.Packed, e, hidden, inter * bits / 8);
            long[] s1 = block == 0 ? new[] { e, twoI } : new[] { e, twoI, hidden / block };
            long[] s2 = block == 0 ? new[] { e, hidden } : new[] { e, hidden, inter / block };
            string scales1 = g.Initializer(prefix + "experts.fc1.scales", q1.Scales, s1);
            string scales2 = g.Initializer(prefix + "experts.fc2.scales", q2.Scales, s2);
            attributes.Add(("expert_weight_bits", (long)bits));
            if (block != 0) attributes.Add(("block_size", (long)block));
            moe = g.NodeIn(OnnxGraphBuilder.MicrosoftDomain, "QMoE", new[] { flat, router, fc1, scales1, "", fc2, scales2, "" }, attributes.ToArray());
        }
        return g.Node("Mul", new[] { moe, g.Node("ReduceSum", new[] { weights, g.Int64s(1) }, ("keepdims", 1L)) });
    }

    /// <summary>Routed experts in standard operators: every expert on every token, weighted by a dense [N, E] routing matrix.</summary>
    private string StandardExperts(string prefix, string flat, string logits, string indices, string weights)
    {
        var gateUp = Tensor(prefix + "experts.gate_up_proj");   // [E, 2I, H]
        var down = Tensor(prefix + "experts.down_proj");        // [E, H, I]
        long e = gateUp.shape[0], twoI = gateUp.shape[1], hidden = gateUp.shape[2], inter = twoI / 2;
        string fc1 = MatrixWeight(prefix + "experts.gate_up_proj.T", gateUp.transpose(1, 2));
        string fc2 = MatrixWeight(prefix + "experts.down_proj.T", down.transpose(1, 2));
        string dense = g.Node("ScatterElements", new[] { Filled(logits, 0f), indices, weights }, ("axis", 1L));
        string h = g.Node("MatMul", new[] { g.Node("Unsqueeze", new[] { flat, g.Int64s(0) }), fc1 });   // [E, N, 2I]
        string act = Silu(Slice(h, 2, 0, inter), Slice(h, 2, inter, twoI));
        string outputs = g.Node("MatMul", new[] { act, fc2 });                                          // [E, N, H]
        string perExpert = g.Node("Unsqueeze", new[] { g.Node("Transpose", new[] { dense }, ("perm", new long[] { 1, 0 })), g.Int64s(2) });
        return g.Node("ReduceSum", new[] { g.Node("Mul", new[] { outputs, perExpert }), g.Int64s(0) }, ("keepdims", 0L));
    }

    // ---- weights ----

    /// <summary>x · Wᵀ (+ bias) for an nn.Linear weight [out, in]: MatMul with Wᵀ, or MatMulNBits when quantized.</summary>
    private string Linear(string x, string weightName, string? bias, Func<Tensor, Tensor>? reorderRows = null)
    {
        var w = Tensor(weightName);
        if (reorderRows != null) w = reorderRows(w);
        long outF = w.shape[0], inF = w.shape[1];
        string y;
        if (!Quantized)
        {
            y = g.Node("MatMul", new[] { x, MatrixWeight(weightName + ".T", w.t()) });
        }
        else
        {
            int bits = options.Weights == OnnxWeightType.Int8 ? 8 : 4;
            var q = WeightQuantizer.Quantize(Floats(w), outF, inF, bits, options.BlockSize);
            long blocks = q.BlocksPerRow;
            string packed = g.RawInitializer(weightName + ".q", DataType.Uint8, q.Packed, outF, blocks, options.BlockSize * bits / 8);
            string scales = g.Initializer(weightName + ".scales", q.Scales, outF, blocks);
            y = g.NodeIn(OnnxGraphBuilder.MicrosoftDomain, "MatMulNBits", new[] { x, packed, scales }, ("K", inF), ("N", outF), ("bits", (long)bits),
                ("block_size", (long)options.BlockSize), ("accuracy_level", (long)options.QuantizedAccuracyLevel));
        }
        return bias == null ? y : g.Node("Add", new[] { y, bias });
    }

    private void LinearTo(string output, string x, string weightName, string? bias)
    {
        string y = Linear(x, weightName, bias);
        g.NodeTo(output, "Identity", new[] { y });
    }

    private string? Bias(string name, Func<Tensor, Tensor>? reorder = null)
    {
        if (!weights.TryGetValue(name, out var b)) return null;
        var t = reorder != null ? reorder(b.unsqueeze(1)).squeeze(1) : b;
        return g.Initializer(name, Floats(t), t.shape[0]);
    }

    private bool Quantized => options.Weights is OnnxWeightType.Int8 or OnnxWeightType.Int4;

    /// <summary>
    /// A float32 matrix input: a float32 initializer, or, for float16/bfloat16 weights, the rounded initializer and a
    /// <c>Cast</c> to float32 (ONNX Runtime folds it when the session loads, so the arithmetic stays float32).
    /// </summary>
    private string MatrixWeight(string name, Tensor t)
    {
        if (options.Weights is not (OnnxWeightType.Float16 or OnnxWeightType.BFloat16)) return g.Initializer(name, Floats(t), t.shape);
        bool half = options.Weights == OnnxWeightType.Float16;
        using var rounded = t.to(half ? ScalarType.Float16 : ScalarType.BFloat16).contiguous();
        string stored = g.RawInitializer(name + (half ? ".f16" : ".bf16"), half ? DataType.Float16 : DataType.Bfloat16, rounded.bytes.ToArray(), t.shape);
        return g.Node("Cast", new[] { stored }, ("to", (long)DataType.Float));
    }

    private string FloatWeight(string name)
    {
        var t = Tensor(name);
        return g.Initializer(name, Floats(t), t.shape);
    }

    private string TransposedFloatWeight(string name)
    {
        var t = Tensor(name);
        return g.Initializer(name + ".T", Floats(t.t()), t.shape[1], t.shape[0]);
    }

    private Tensor Tensor(string name) =>
        weights.TryGetValue(name, out var t) ? t.detach().to(ScalarType.Float32).cpu()
        : throw new InvalidOperationException($"The model has no tensor '{name}' to export.");

    private static float[] Floats(Tensor t) => t.contiguous().data<float>().ToArray();

    /// <summary>Rows of the query projection [n_h·qk_head_dim, in] with each head's rotary rows reordered from DeepSeek's adjacent pairs to even-then-odd.</summary>
    private Tensor RopeRowsOfQuery(Tensor w)
    {
        if (!config.RopeInterleave) return w;
        int heads = config.NumAttentionHeads, qkHead = config.QkHeadDim;
        var order = new long[(long)heads * qkHead];
        for (int h = 0; h < heads; h++)
        {
            for (int j = 0; j < qkHead; j++) order[h * qkHead + j] = h * qkHead + RotaryPermutation(j - config.QkNopeHeadDim, config.QkNopeHeadDim);
        }
        return w.index_select(0, torch.tensor(order));
    }

    /// <summary>Rows of <c>kv_a_proj_with_mqa</c> [kv_lora_rank + d_R, in] with the rotary key's rows reordered to even-then-odd.</summary>
    private Tensor RopeRowsOfLatent(Tensor w)
    {
        if (!config.RopeInterleave) return w;
        int rank = config.KvLoraRank;
        var order = new long[rank + config.QkRopeHeadDim];
        for (int j = 0; j < order.Length; j++) order[j] = RotaryPermutation(j - rank, rank);
        return w.index_select(0, torch.tensor(order));
    }

    /// <summary>Source index of feature <paramref name="rotaryIndex"/> (offset by <paramref name="offset"/>); non-rotary features (negative index) stay.</summary>
    private int RotaryPermutation(int rotaryIndex, int offset)
    {
        if (rotaryIndex < 0) return rotaryIndex + offset;
        int half = config.QkRopeHeadDim / 2;
        return offset + (rotaryIndex < half ? 2 * rotaryIndex : 2 * (rotaryIndex - half) + 1);
    }
}
