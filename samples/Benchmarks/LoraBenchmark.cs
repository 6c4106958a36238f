using System.Diagnostics;
using System.Text.Json;
using MLNet.MoE;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// LoRA fine-tuning at checkpoint scale, the counterpart of transformers + PEFT's anchor (tools/gpu/peft_moonlight.py):
/// a bfloat16 base built on the device (random, as the anchor's) or streamed from a checkpoint folder, LoRA adapters of
/// rank r on the anchor's target modules, activation recomputation, random-token rows; prints one JSON line with load
/// time and peak host memory, training tokens/s and peak GPU memory, and generation tokens/s with the KV cache.
/// </summary>
internal static class LoraBenchmark
{
    public static object Run(MoeModelConfig config, string name, Device device, int batch, int sequence, int steps, int rank, string targetSet,
        string? checkpoint, string? referenceLogits, int generateTokens, KernelMode kernelMode, ExpertDispatch expertDispatch,
        ScalarType weightType = ScalarType.BFloat16, bool profile = false, bool mergedExperts = false, int blocksNotRecomputed = 0)
    {
        var total = Stopwatch.StartNew();
        using var memory = new GpuMemoryMonitor(device);
        var placement = new TensorPlacement(device, weightType);
        var load = Stopwatch.StartNew();
        torch.manual_seed(0);
        using var model = checkpoint != null
            ? HuggingFaceCheckpoint.Load(checkpoint, placement)
            : new MoeCausalLM(config, 0, WeightInitialization.HuggingFace, placement);
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize();
        double loadSeconds = load.Elapsed.TotalSeconds;
        double? loadedGpu = memory.PeakGiB;
        double hostAfterLoad = PeakHostGiB();
        config = model.Config;

        object? logitsCheck = referenceLogits != null ? CompareLogits(model, referenceLogits, device, weightType) : null;
        // --steps 0: load (and compare logits) only, e.g. a float32 load of a 16B checkpoint that has no room to train.
        if (steps == 0)
        {
            return new
            {
                impl = "mlnet-moe-torchsharp-load", config = name, device = device.ToString(), weights = weightType.ToString(),
                source = checkpoint != null ? "checkpoint" : "random", load_s = Math.Round(loadSeconds, 1), gpu_after_load_gib = loadedGpu,
                peak_host_after_load_gib = hostAfterLoad, logits = logitsCheck, total_s = Math.Round(total.Elapsed.TotalSeconds, 1),
            };
        }

        foreach (var p in model.parameters()) p.requires_grad_(false);
        // "attention-experts": PEFT's effective targets for DeepSeek-V3 in transformers 5 (its MLP names map onto the fused
        // experts); "attention-mlp": the dense and shared-expert MLPs instead of the routed experts.
        var targets = targetSet switch
        {
            "attention-experts" => LoraOptions.AttentionAndExperts.ToList(),
            "attention-mlp" => LoraOptions.AttentionAndMlpModules.ToList(),
            _ => throw new ArgumentException($"--targets {targetSet}: attention-experts or attention-mlp."),
        };
        using var adapters = LoraAdapters.Create(model, new LoraOptions { Rank = rank, Alpha = 2 * rank, TargetModules = targets }, seed: 0, optionName: "lora");
        foreach (var expertAdapter in adapters.ExpertAdapters) expertAdapter.AlwaysMerged = mergedExperts;
        long trainable = adapters.Parameters().Sum(p => p.numel());
        var random = new Random(0);
        var stream = new int[batch * (sequence + 1) * (2 * steps + 2)];
        for (int i = 0; i < stream.Length; i++) stream[i] = random.Next(config.VocabSize);
        var settings = new LanguageModelTrainingSettings
        {
            ContextLength = sequence,
            BatchSize = batch,
            Steps = 2 * steps,
            Optimizer = new OptimizerSettings { LearningRate = 1e-4, WarmupSteps = 0, MinLearningRateRatio = 1, WeightDecay = 0.0, GradientClipNorm = 1.0 },
            Routing = new MoeRoutingSettings { CapacityFactor = 1.25, BiasUpdateRate = 0 },
            ComputeType = ScalarType.BFloat16,
            LogEverySteps = steps,
            MultiTokenPredictionWeight = 0,
            RecomputeActivations = true,
            LastBlocksNotRecomputed = blocksNotRecomputed,
            Kernels = KernelSelection.Select(kernelMode, expertDispatch, device, ScalarType.BFloat16, "Benchmarks").Kernels,
        };
        var reports = new List<LanguageModelProgress>();
        var loop = new LanguageModelTrainingLoop(model, settings, device, adapters);
        loop.Run(stream, Array.Empty<int>(), reports.Add);
        var timed = reports[^1];
        object? partTimes = profile ? Profile(model, adapters, settings, device, batch, sequence, random) : null;

        double? generationTokensPerSecond = null;
        if (generateTokens > 0)
        {
            var prompt = Enumerable.Range(0, 32).Select(_ => random.Next(config.VocabSize)).ToArray();
            TokenGenerator.Generate(model, prompt, 4, new TokenSampler(0, 0, 1, 1), useCache: true, adapters: adapters);
            var clock = Stopwatch.StartNew();
            int[] generated = TokenGenerator.Generate(model, prompt, generateTokens, new TokenSampler(0, 0, 1, 1), useCache: true, adapters: adapters);
            generationTokensPerSecond = Math.Round(generated.Length / clock.Elapsed.TotalSeconds, 1);
        }
        return new
        {
            impl = "mlnet-moe-torchsharp-lora",
            config = name,
            device = device.ToString(),
            params_B = Math.Round(config.ParameterCount() / 1e9, 2),
            trainable_M = Math.Round(trainable / 1e6, 2),
            rank,
            targets = targetSet,
            seq = sequence,
            batch,
            source = checkpoint != null ? "checkpoint" : "random",
            load_s = Math.Round(loadSeconds, 1),
            gpu_after_load_gib = loadedGpu,
            peak_host_after_load_gib = hostAfterLoad,
            tokens_per_s = Math.Round(timed.TokensPerSecond, 1),
            step_s = Math.Round(batch * (double)sequence / timed.TokensPerSecond, 3),
            peak_gpu_gib_nvidia_smi = memory.PeakGiB,
            peak_host_gib = PeakHostGiB(),
            loss = Math.Round(timed.Loss, 3),
            kernels = settings.Kernels.ToString(),
            blocks_not_recomputed = blocksNotRecomputed,
            expert_adapters = adapters.ExpertAdapters.FirstOrDefault() is { } first ? (first.RunsUnmergedIn(settings.Kernels) ? "unmerged" : "merged") : "none",
            generation_tokens_per_s = generationTokensPerSecond,
            profile_ms = partTimes,
            logits = logitsCheck,
            total_s = Math.Round(total.Elapsed.TotalSeconds, 1),
        };
    }

    /// <summary>
    /// Where the forward time of a step goes, with the adapters attached: the model's own loss forward (no gradient, no
    /// recomputation), then the same forward part by part (<see cref="PartByPartForward"/>, the routed experts there
    /// without their adapters), each part between device synchronisations; milliseconds per pass, the mean of two.
    /// </summary>
    private static object Profile(MoeCausalLM model, LoraAdapters adapters, LanguageModelTrainingSettings settings, Device device, int batch, int sequence, Random random)
    {
        var timer = new SynchronisedPartTimer(device);
        var forward = new List<double>();
        for (int pass = 0; pass < 3; pass++)
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            var ids = torch.tensor(Enumerable.Range(0, batch * (sequence + 1)).Select(_ => (long)random.Next(model.Config.VocabSize)).ToArray(), new long[] { batch, sequence + 1 }).to(device);
            var inputs = ids.narrow(1, 0, sequence);
            var targets = ids.narrow(1, 1, sequence);
            ForwardContext Context() => new() { Training = true, ComputeType = ScalarType.BFloat16, CapacityFactor = 1.25, Kernels = settings.Kernels, Adapters = adapters };
            using (var context = Context())
            {
                timer.Start();
                model.Loss(inputs, targets, context, 0);
                timer.Lap("whole");
                if (pass > 0) forward.Add(timer.Totals["whole"]);
                timer.Totals.Remove("whole");
            }
            if (pass == 1) timer.Reset();
            using (var context = Context())
            {
                timer.Start();
                PartByPartForward.Loss(model, inputs, targets, context, timer.Lap);
            }
        }
        return new
        {
            forward_loss = Math.Round(forward.Average(), 1),
            parts = timer.Totals.ToDictionary(p => p.Key, p => Math.Round(p.Value / 2, 1)),
        };
    }

    /// <summary>Compares the model's logits with a reference file: JSON {"input_ids": [[...]], "logits_file": "x.bin"} with float32 logits [T, V] of the first row.</summary>
    private static object CompareLogits(MoeCausalLM model, string referencePath, Device device, ScalarType computeType)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(referencePath));
        long[] ids = json.RootElement.GetProperty("input_ids")[0].EnumerateArray().Select(v => v.GetInt64()).ToArray();
        string binary = Path.Combine(Path.GetDirectoryName(referencePath)!, json.RootElement.GetProperty("logits_file").GetString()!);
        byte[] bytes = File.ReadAllBytes(binary);
        var reference = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, reference, 0, bytes.Length);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var context = new ForwardContext { ComputeType = computeType };
        var logits = model.Forward(torch.tensor(ids, new long[] { 1, ids.Length }).to(device), context)[0].cpu().contiguous();
        var expected = torch.tensor(reference, logits.shape);
        var difference = (logits - expected).abs();
        double scale = expected.abs().max().item<float>();
        var agree = logits.argmax(-1).eq(expected.argmax(-1)).to(ScalarType.Float32).mean().item<float>();
        return new
        {
            tokens = ids.Length,
            max_abs_difference = Math.Round(difference.max().item<float>(), 4),
            mean_abs_difference = Math.Round(difference.mean().item<float>(), 5),
            max_abs_reference = Math.Round(scale, 3),
            argmax_agreement = Math.Round(agree, 4),
        };
    }

    private static double PeakHostGiB()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return Math.Round(long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0 / 1024.0, 2);
        }
        return double.NaN;
    }
}
