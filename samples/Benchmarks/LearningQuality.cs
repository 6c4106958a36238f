using System.Diagnostics;
using System.Text;
using Microsoft.ML;
using MLNet.MoE;
using static TorchSharp.torch;

/// <summary>
/// The learning-quality comparison with <c>reference/byte_lm_quality.py</c>: the same byte-level model config, recipe,
/// split and scoring, trained through the public pipeline (<c>TokenizeForMoe</c> + <c>LanguageModel</c>).
/// <list type="bullet">
/// <item>Split: the file's lines, the first 90% (joined with "\n") for training, the rest held out.</item>
/// <item>Recipe: 2,000 steps of 64 windows of 256 bytes, AdamW (β 0.9/0.99, weight decay 0.1 on matrices), learning
/// rate 1e-3 with 100 warm-up steps and cosine decay to 1e-4, clip 1.0, bias update rate 0.001, no balance loss, no
/// multi-token prediction, bf16 on CUDA. Everything else is the trainer's default.</item>
/// <item>Score: mean cross-entropy (nats/byte) over all non-overlapping 256-byte windows of the held-out bytes.</item>
/// </list>
/// </summary>
internal static class LearningQuality
{
    /// <summary>The reference's CFG, with one more id for the byte-level tokenizer's end-of-text.</summary>
    private const string Config = """
        {"vocab_size": 257, "hidden_size": 384, "intermediate_size": 1024, "moe_intermediate_size": 256, "num_hidden_layers": 6,
         "first_k_dense_replace": 1, "num_attention_heads": 6, "num_key_value_heads": 6, "n_shared_experts": 1, "n_routed_experts": 8,
         "num_experts_per_tok": 2, "n_group": 1, "topk_group": 1, "routed_scaling_factor": 1.0, "norm_topk_prob": true, "q_lora_rank": null,
         "kv_lora_rank": 128, "qk_nope_head_dim": 48, "qk_rope_head_dim": 16, "v_head_dim": 64, "max_position_embeddings": 256,
         "rope_theta": 10000.0, "num_nextn_predict_layers": 0, "bos_token_id": null, "eos_token_id": null}
        """;

    private const int Sequence = 256;

    public static object Run(string corpus, int seed, int steps, ComputeDevice device, Action<LanguageModelOptions>? adjust = null)
    {
        string[] lines = File.ReadAllText(corpus, Encoding.UTF8).Split('\n');
        int cut = (int)(lines.Length * 0.9);
        string training = string.Join('\n', lines[..cut]);
        byte[] validation = Encoding.UTF8.GetBytes(string.Join('\n', lines[cut..]));

        var ml = new MLContext(seed: seed) { GpuDeviceId = device == ComputeDevice.Cuda ? 0 : null };
        var options = new LanguageModelOptions
        {
            Model = MoeModelConfig.FromJson(Config, "learning-quality config"),
            ContextLength = Sequence,
            BatchSize = 64,
            MaxSteps = steps,
            LearningRate = 1e-3,
            MinLearningRateRatio = 0.1,
            WarmupSteps = 100,
            WeightDecay = 0.1,
            Beta1 = 0.9,
            Beta2 = 0.99,
            GradientClipNorm = 1.0,
            BiasUpdateRate = 0.001,
            BalanceLossWeight = 0,
            MultiTokenPredictionWeight = 0,
            ValidationFraction = 0,
            Seed = seed,
            Device = device,
            LogEverySteps = 500,
        };
        adjust?.Invoke(options);
        var data = ml.Data.LoadFromEnumerable(new[] { new Document { Text = training } });
        var clock = Stopwatch.StartNew();
        var model = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", MoeTokenizer.ByteLevel())
            .Append(ml.MoE().Trainers.LanguageModel(options))
            .Fit(data);
        double seconds = clock.Elapsed.TotalSeconds;
        var transformer = model.LastTransformer;
        var summary = transformer.TrainingSummary!;

        // The reference's scoring: the held-out bytes cut to whole windows, every byte after the first predicted once.
        int usable = (validation.Length - 1) / Sequence * Sequence + 1;
        var stream = validation.Take(usable).Select(b => (int)b).ToArray();
        var score = StreamEvaluator.Score(transformer.Model, stream, Sequence, 64);
        transformer.Dispose();
        return new
        {
            result = "byte-lm",
            impl = "mlnet-moe",
            corpus = Path.GetFileName(corpus),
            seed,
            steps = summary.Steps,
            val_loss_nats_per_byte = Math.Round(score.CrossEntropySum / score.Tokens, 4),
            val_bytes = score.Tokens,
            train_bytes = Encoding.UTF8.GetByteCount(training),
            final_train_loss = Math.Round(summary.FinalTrainingLoss, 4),
            seconds = Math.Round(seconds, 1),
            kernels = summary.Kernels,
            initialization = options.Initialization.ToString(),
            capacity_factor = options.CapacityFactor,
            params_M = Math.Round(options.Model.ParameterCount() / 1e6, 2),
        };
    }

    private sealed class Document
    {
        public string Text { get; set; } = "";
    }
}
