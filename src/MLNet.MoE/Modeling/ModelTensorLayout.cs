namespace MLNet.MoE;

/// <summary>
/// The tensors a model of a config holds, by name and shape: what a model zip's weights (<see cref="ModelWeightsFormat"/>)
/// and a Hugging Face checkpoint are checked against before any model is built. The names are Hugging Face's, with the
/// routed experts fused as <see cref="MoeCausalLM"/> keeps them.
/// </summary>
internal static class ModelTensorLayout
{
    /// <summary>The model's own tensor names (fused experts) and shapes for a config, without building the model: the
    /// names and shapes of <see cref="MoeCausalLM"/>'s state dict, in its order.</summary>
    public static List<(string Name, long[] Shape)> Of(MoeModelConfig config)
    {
        config.Validate();
        long h = config.HiddenSize;
        int heads = config.NumAttentionHeads;
        var list = new List<(string, long[])> { ("model.embed_tokens.weight", new[] { (long)config.VocabSize, h }) };
        void Block(int i, bool mtp)
        {
            string p = $"model.layers.{i}";
            if (mtp)
            {
                list.Add(($"{p}.enorm.weight", new[] { h }));
                list.Add(($"{p}.hnorm.weight", new[] { h }));
                list.Add(($"{p}.eh_proj.weight", new[] { h, 2 * h }));
            }
            list.Add(($"{p}.input_layernorm.weight", new[] { h }));
            if (config.QLoraRank is int q)
            {
                list.Add(($"{p}.self_attn.q_a_proj.weight", new[] { (long)q, h }));
                if (config.AttentionBias) list.Add(($"{p}.self_attn.q_a_proj.bias", new[] { (long)q }));
                list.Add(($"{p}.self_attn.q_a_layernorm.weight", new[] { (long)q }));
                list.Add(($"{p}.self_attn.q_b_proj.weight", new[] { (long)heads * config.QkHeadDim, q }));
            }
            else
            {
                list.Add(($"{p}.self_attn.q_proj.weight", new[] { (long)heads * config.QkHeadDim, h }));
            }
            list.Add(($"{p}.self_attn.kv_a_proj_with_mqa.weight", new[] { (long)config.KvLoraRank + config.QkRopeHeadDim, h }));
            if (config.AttentionBias) list.Add(($"{p}.self_attn.kv_a_proj_with_mqa.bias", new[] { (long)config.KvLoraRank + config.QkRopeHeadDim }));
            list.Add(($"{p}.self_attn.kv_a_layernorm.weight", new[] { (long)config.KvLoraRank }));
            list.Add(($"{p}.self_attn.kv_b_proj.weight", new[] { (long)heads * (config.QkNopeHeadDim + config.VHeadDim), config.KvLoraRank }));
            list.Add(($"{p}.self_attn.o_proj.weight", new[] { h, (long)heads * config.VHeadDim }));
            if (config.AttentionBias) list.Add(($"{p}.self_attn.o_proj.bias", new[] { h }));
            list.Add(($"{p}.post_attention_layernorm.weight", new[] { h }));
            if (config.IsMoeLayer(i))
            {
                long e = config.NRoutedExperts;
                long im = config.MoeIntermediateSize;
                list.Add(($"{p}.mlp.gate.weight", new[] { e, h }));
                list.Add(($"{p}.mlp.gate.e_score_correction_bias", new[] { e }));
                list.Add(($"{p}.mlp.experts.gate_up_proj", new[] { e, 2 * im, h }));
                list.Add(($"{p}.mlp.experts.down_proj", new[] { e, h, im }));
                if (config.NSharedExperts > 0)
                {
                    long s = im * config.NSharedExperts;
                    list.Add(($"{p}.mlp.shared_experts.gate_proj.weight", new[] { s, h }));
                    list.Add(($"{p}.mlp.shared_experts.up_proj.weight", new[] { s, h }));
                    list.Add(($"{p}.mlp.shared_experts.down_proj.weight", new[] { h, s }));
                }
            }
            else
            {
                list.Add(($"{p}.mlp.gate_proj.weight", new[] { (long)config.IntermediateSize, h }));
                list.Add(($"{p}.mlp.up_proj.weight", new[] { (long)config.IntermediateSize, h }));
                list.Add(($"{p}.mlp.down_proj.weight", new[] { h, (long)config.IntermediateSize }));
            }
            if (mtp) list.Add(($"{p}.shared_head.norm.weight", new[] { h }));
        }
        for (int i = 0; i < config.NumHiddenLayers; i++) Block(i, mtp: false);
        for (int k = 0; k < config.NumNextnPredictLayers; k++) Block(config.NumHiddenLayers + k, mtp: true);
        list.Add(("model.norm.weight", new[] { h }));
        list.Add(("lm_head.weight", new[] { (long)config.VocabSize, h }));
        return list;
    }
}
