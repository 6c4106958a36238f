// Benchmarks for MLNet.MoE's training engine. See README.md.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNet.MoE;
using TorchSharp;
using static TorchSharp.torch;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Benchmarks train <config...> [--device cpu|cuda] [--steps N] [--warmup N] [--precision bf16|fp32] [--batch N] [--recompute] [--kernels auto|fused|managed] [--experts auto|dropless|padded] [--init huggingface|fanin|unitembedding] | load <config> [--repeats N] | profile <config> [--device cpu|cuda] [--steps N] [--batch N] [--kernels ...] [--experts ...] | parity [fixture-dir] [--device ...] | compare-cpu <config> [--steps N] | quality <text file> [--seed N] [--steps N] [--device ...] | classification <tsv file> [--no-header] [--text-column N] [--label-column N] [--test-fraction F] [--folds N] [--seed N] [--trainers lbfgs,sdca,moe] [--device ...] [--epochs N --max-length N --lr F --batch N --validation-fraction F --patience N --lm-steps N --ngram-buckets N --ngram-lr-scale F --dropout F --weight-decay F --init NAME --variant NAME] | lora <config> [--device cuda] [--batch N] [--seq N] [--steps N] [--rank N] [--targets attention-experts|attention-mlp] [--checkpoint DIR] [--reference-logits FILE] [--generate N] [--weights bfloat16|float32] [--profile] | lora-export <out dir> [--train-router-norms]");
    return 2;
}
string Option(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
var positional = args.Skip(1).TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
string deviceName = Option("--device", "cpu");
Device device = deviceName == "cuda" ? CudaDevice() : torch.CPU;
KernelMode kernelMode = Option("--kernels", "auto") switch { "fused" => KernelMode.Fused, "managed" => KernelMode.Managed, "auto" => KernelMode.Auto, var k => throw new ArgumentException($"--kernels {k}: auto, fused or managed.") };
WeightInitialization initialization = Enum.Parse<WeightInitialization>(Option("--init", "UnitEmbedding"), ignoreCase: true);
ExpertDispatch expertDispatch = Option("--experts", "auto") switch { "dropless" => ExpertDispatch.Dropless, "padded" => ExpertDispatch.CapacityPadded, "auto" => ExpertDispatch.Auto, var e => throw new ArgumentException($"--experts {e}: auto, dropless or padded.") };
var configs = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "configs.json")))!.AsObject();

switch (args[0])
{
    case "train":
        int steps = int.Parse(Option("--steps", "20"), CultureInfo.InvariantCulture);
        int warmup = int.Parse(Option("--warmup", "5"), CultureInfo.InvariantCulture);
        string precision = Option("--precision", device.type == DeviceType.CUDA ? "bf16" : "fp32");
        bool recompute = args.Contains("--recompute");
        int? batchOverride = Option("--batch", "") is { Length: > 0 } b ? int.Parse(b, CultureInfo.InvariantCulture) : null;
        foreach (string name in positional) Emit(TrainBenchmark(name, steps, warmup, precision == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32, recompute, batchOverride));
        return 0;
    case "parity":
        // Default: the Hugging Face fixture shipped in the repository (data/deepseek-v3-tiny-a, copied beside the program).
        // A check: exits 1 when the logits or the greedy continuations differ from the reference's.
        return EmitCheck(Parity(positional.Count > 0 ? positional[0] : Path.Combine(AppContext.BaseDirectory, "Data", "deepseek-v3-tiny-a")));
    case "profile":
        Emit(Profile(positional[0], int.Parse(Option("--steps", "5"), CultureInfo.InvariantCulture),
            Option("--batch", "") is { Length: > 0 } profileBatch ? int.Parse(profileBatch, CultureInfo.InvariantCulture) : null));
        return 0;
    case "precision-curves":
        Emit(PrecisionCurves(positional[0], positional[1], int.Parse(Option("--steps", "100"), CultureInfo.InvariantCulture)));
        return 0;
    case "quality":
        // The learning-quality comparison with reference/byte_lm_quality.py on a text file (see LearningQuality.cs).
        Emit(LearningQuality.Run(positional[0], int.Parse(Option("--seed", "1337"), CultureInfo.InvariantCulture),
            int.Parse(Option("--steps", "2000"), CultureInfo.InvariantCulture), deviceName == "cuda" ? ComputeDevice.Cuda : ComputeDevice.Cpu,
            options =>
            {
                options.ExpertDispatch = expertDispatch;
                options.CapacityFactor = double.Parse(Option("--capacity-factor", "1.25"), CultureInfo.InvariantCulture);
                if (Option("--init", "") is { Length: > 0 } init) options.Initialization = Enum.Parse<WeightInitialization>(init, ignoreCase: true);
            }));
        return 0;
    case "classification":
        // The text-classification table (see TextClassificationBenchmark.cs): ML.NET's baselines and the MoE classifier on the same split.
        foreach (var line in TextClassificationBenchmark.Run(positional[0], !args.Contains("--no-header"),
            int.Parse(Option("--text-column", "0"), CultureInfo.InvariantCulture), int.Parse(Option("--label-column", "1"), CultureInfo.InvariantCulture),
            double.Parse(Option("--test-fraction", "0.2"), CultureInfo.InvariantCulture), int.Parse(Option("--folds", "1"), CultureInfo.InvariantCulture),
            int.Parse(Option("--seed", "1"), CultureInfo.InvariantCulture), Option("--trainers", "lbfgs,sdca,moe").Split(','), deviceName,
            TextClassificationBenchmark.Adjustments(name => Option(name, "")), Option("--variant", "defaults")))
        {
            Emit(line);
        }
        return 0;
    case "load":
        // What loading a model zip costs, and how much of it is the integrity checks (CRC-32 of every entry, the weights'
        // layout before the model is built, the SHA-256 of weights, tokenizer and config).
        Emit(ZipLoadBenchmark.Run(positional[0], configs, int.Parse(Option("--repeats", "3"), CultureInfo.InvariantCulture)));
        return 0;
    case "lora":
        {
            // LoRA fine-tuning of a bfloat16 base: random weights of a config, or --checkpoint DIR streamed from files.
            var (loraConfig, loraBatch, loraSeq) = Load(positional[0]);
            Emit(LoraBenchmark.Run(loraConfig, positional[0], device,
                int.Parse(Option("--batch", loraBatch.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture),
                int.Parse(Option("--seq", loraSeq.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture),
                int.Parse(Option("--steps", "4"), CultureInfo.InvariantCulture), int.Parse(Option("--rank", "16"), CultureInfo.InvariantCulture),
                Option("--targets", "attention-experts"), Option("--checkpoint", "") is { Length: > 0 } dir ? dir : null,
                Option("--reference-logits", "") is { Length: > 0 } reference ? reference : null,
                int.Parse(Option("--generate", "0"), CultureInfo.InvariantCulture), kernelMode, expertDispatch,
                Option("--weights", "bfloat16") switch
                {
                    "bfloat16" => ScalarType.BFloat16,
                    "float32" => ScalarType.Float32,
                    var w => throw new ArgumentException($"--weights {w}: bfloat16 or float32."),
                },
                args.Contains("--profile"), args.Contains("--merged-experts"),
                int.Parse(Option("--keep-blocks", "0"), CultureInfo.InvariantCulture)));
            return 0;
        }
    case "lora-export":
        // Parity with PEFT: LoRA-trains the tiny fixture a few steps, writes the adapters in PEFT's format and this
        // library's logits for the fixture's ids, for tools/gpu/peft_parity.py to load with PeftModel and compare.
        // --train-router-norms: routers and norms trained in full too (PEFT's modules_to_save).
        Emit(LoraExport.Run(Path.Combine(AppContext.BaseDirectory, "Data", "deepseek-v3-tiny-a"), positional[0], args.Contains("--train-router-norms")));
        return 0;
    case "compare-cpu":
        // A check: exits 1 when a loss differs from the CPU's by more than --tolerance.
        return EmitCheck(CompareWithCpu(positional[0], int.Parse(Option("--steps", "5"), CultureInfo.InvariantCulture),
            double.Parse(Option("--tolerance", "0.02"), CultureInfo.InvariantCulture)));
    case "token-store":
        // The token store (see TokenStoreBenchmark.cs): build <text> <store>, resume <text> <store>, train <text> <work dir> <config>.
        int storeWorkers = int.Parse(Option("--workers", "1"), CultureInfo.InvariantCulture);
        int chunk = int.Parse(Option("--chunk", (1 << 22).ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        string storeTokenizer = Option("--tokenizer", "gpt2");
        Emit(positional[0] switch
        {
            "build" => TokenStoreBenchmark.Build(positional[1], positional[2], storeTokenizer, storeWorkers, chunk, resume: !args.Contains("--fresh")),
            "resume" => TokenStoreBenchmark.Resume(positional[1], positional[2], storeTokenizer, storeWorkers, chunk, double.Parse(Option("--kill-at", "0.5"), CultureInfo.InvariantCulture)),
            "train" => TokenStoreBenchmark.Train(positional[1], positional[2], positional[3] == "small" ? MoeModelConfig.Small : MoeModelConfig.FromJson(configs[positional[3]]!["model"]!.ToJsonString(), $"configs.json:{positional[3]}"), storeTokenizer,
                int.Parse(Option("--steps", "200"), CultureInfo.InvariantCulture), int.Parse(Option("--batch", "32"), CultureInfo.InvariantCulture),
                int.Parse(Option("--context", "512"), CultureInfo.InvariantCulture), deviceName == "cuda" ? ComputeDevice.Cuda : ComputeDevice.Cpu,
                long.Parse(Option("--sparse-tokens", "0"), CultureInfo.InvariantCulture)),
            var mode => throw new ArgumentException($"token-store {mode}: build, resume or train."),
        });
        return 0;
    default:
        Console.Error.WriteLine($"unknown command '{args[0]}'");
        return 2;
}

Device CudaDevice()
{
    torch.InitializeDeviceType(DeviceType.CUDA);
    if (!torch.cuda.is_available()) throw new InvalidOperationException("CUDA is not available to TorchSharp.");
    return torch.CUDA;
}

void Emit(object value) => Console.WriteLine(JsonSerializer.Serialize(value));

// Prints a check's JSON and turns its verdict into the exit code: 0 passed, 1 failed (with a line on standard error).
int EmitCheck(CheckResult result)
{
    Emit(result.Figures);
    if (result.Passed) return 0;
    Console.Error.WriteLine($"check failed: {result.Failure}");
    return 1;
}

(MoeModelConfig Config, int Batch, int Sequence) Load(string name)
{
    var entry = configs[name] ?? throw new ArgumentException($"No config '{name}' in configs.json (has: {string.Join(", ", configs.Select(c => c.Key))}).");
    var config = MoeModelConfig.FromJson(entry["model"]!.ToJsonString(), "configs.json: " + name);
    return (config, entry["batch"]!.GetValue<int>(), entry["seq"]!.GetValue<int>());
}

object TrainBenchmark(string name, int steps, int warmup, ScalarType computeType, bool recompute = false, int? batchOverride = null)
{
    var (config, batch, sequence) = Load(name);
    batch = batchOverride ?? batch;
    torch.manual_seed(0);
    using var model = new MoeCausalLM(config, 0, initialization);
    model.to(device);
    // Random tokens, as the PyTorch reference trainers use.
    var random = new Random(0);
    // Fresh random tokens for every step, as the PyTorch reference draws them (a short stream would be memorised).
    var stream = new int[batch * (sequence + 1) * (warmup + steps + 2)];
    for (int i = 0; i < stream.Length; i++) stream[i] = random.Next(config.VocabSize);
    var settings = new LanguageModelTrainingSettings
    {
        ContextLength = sequence,
        BatchSize = batch,
        Steps = warmup + steps,
        Optimizer = new OptimizerSettings { LearningRate = 3e-4, WarmupSteps = 0, MinLearningRateRatio = 1, WeightDecay = 0.1, GradientClipNorm = 1.0 },
        Routing = new MoeRoutingSettings { CapacityFactor = 1.25 },
        ComputeType = computeType,
        LogEverySteps = warmup,
        MultiTokenPredictionWeight = 0,
        RecomputeActivations = recompute,
        Kernels = KernelSelection.Select(kernelMode, expertDispatch, device, computeType, "Benchmarks").Kernels,
    };
    var reports = new List<LanguageModelProgress>();
    using var memory = new GpuMemoryMonitor(device);
    var loop = new LanguageModelTrainingLoop(model, settings, device);
    loop.Run(stream, Array.Empty<int>(), reports.Add);
    var timed = reports[^1];
    double tokensPerSecond = timed.TokensPerSecond;
    long total = config.ParameterCount();
    long active = config.ParameterCount(activeOnly: true);
    long embedding = (long)config.VocabSize * config.HiddenSize;
    double attention = 6.0 * config.NumHiddenLayers * config.NumAttentionHeads * sequence * (config.QkHeadDim + config.VHeadDim) / 2;
    double flopsPerToken = 6.0 * (active - embedding) + attention + 6.0 * config.VocabSize * config.HiddenSize;
    return new
    {
        config = name,
        impl = "mlnet-moe-torchsharp",
        device = device.ToString(),
        dtype = computeType == ScalarType.BFloat16 ? "bf16" : "fp32",
        batch,
        recompute,
        total_params_M = Math.Round(total / 1e6, 1),
        active_params_M = Math.Round(active / 1e6, 1),
        tokens_per_s = Math.Round(tokensPerSecond),
        step_ms = Math.Round(batch * (double)sequence / tokensPerSecond * 1000, 1),
        mfu_vs_790TF = Math.Round(flopsPerToken * tokensPerSecond / 790e12, 3),
        peak_memory_gib = memory.PeakGiB,
        loss = Math.Round(timed.Loss, 3),
        dropped_fraction = Math.Round(timed.DroppedFraction, 4),
        expert_load_max_over_mean = timed.ExpertLoadMaxOverMean.Count == 0 ? 0 : Math.Round(timed.ExpertLoadMaxOverMean.Values.Max(), 2),
        first_report_dropped_fraction = Math.Round(reports[0].DroppedFraction, 4),
        first_report_expert_load_max_over_mean = reports[0].ExpertLoadMaxOverMean.Count == 0 ? 0 : Math.Round(reports[0].ExpertLoadMaxOverMean.Values.Max(), 2),
        initialization = initialization.ToString(),
        kernels = settings.Kernels.ToString(),
        steps,
        warmup,
    };
}

CheckResult Parity(string fixture)
{
    using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "expected.json")));
    var root = expected.RootElement;
    long[][] ids = root.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
    float[] reference = root.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
    int[] prompt = root.GetProperty("greedy_prompt").EnumerateArray().Select(v => v.GetInt32()).ToArray();
    int[] continuation = root.GetProperty("greedy_continuation").EnumerateArray().Select(v => v.GetInt32()).ToArray();
    using var model = HuggingFaceCheckpoint.Load(fixture);
    model.to(device);
    model.eval();
    double maxDifference;
    using (var scope = torch.NewDisposeScope())
    using (torch.no_grad())
    {
        var input = torch.tensor(ids.SelectMany(r => r).ToArray(), new long[] { ids.Length, ids[0].Length }).to(device);
        float[] logits = model.Forward(input, new ForwardContext()).cpu().contiguous().data<float>().ToArray();
        maxDifference = logits.Zip(reference, (a, b) => (double)Math.Abs(a - b)).Max();
    }
    int[] cached = TokenGenerator.Generate(model, prompt, continuation.Length, new TokenSampler(0, 0, 1, 1), useCache: true);
    int[] uncached = TokenGenerator.Generate(model, prompt, continuation.Length, new TokenSampler(0, 0, 1, 1), useCache: false);
    bool within = maxDifference < 1e-4, cachedMatches = cached.SequenceEqual(continuation), uncachedMatches = uncached.SequenceEqual(continuation);
    var failures = new List<string>();
    if (!within) failures.Add($"max |logit difference| {maxDifference:G3} is not below 1e-4");
    if (!cachedMatches) failures.Add("the greedy continuation with the KV cache differs from the reference's");
    if (!uncachedMatches) failures.Add("the greedy continuation without a cache differs from the reference's");
    return new CheckResult(new
    {
        check = "hf-parity-float32",
        device = device.ToString(),
        max_abs_logit_difference = maxDifference,
        within_1e4 = within,
        greedy_cached_matches = cachedMatches,
        greedy_uncached_matches = uncachedMatches,
        passed = failures.Count == 0,
    }, failures.Count == 0, string.Join("; ", failures));
}

object Profile(string name, int steps, int? batchOverride)
{
    // Where a training step's time goes: every part of the forward pass, the backward pass and the optimizer, each
    // measured between device synchronisations (so the total is slower than an unsynchronised step). The forward runs
    // part by part (PartByPartForward: the model's parts called one after another, the same forward as model.Loss),
    // with a synchronisation after each part.
    var (config, batch, sequence) = Load(name);
    batch = batchOverride ?? batch;
    using var model = new MoeCausalLM(config, seed: 0);
    model.to(device);
    var (decay, noDecay) = model.ParameterGroupsForWeightDecay();
    var kernels = KernelSelection.Select(kernelMode, expertDispatch, device, ScalarType.BFloat16, "Benchmarks").Kernels;
    using var optimizer = new FlatAdamW(decay, noDecay, 0.1, 0.9, 0.95, 1e-8, device, kernels);
    ForwardContext NewContext() => new() { Training = true, ComputeType = ScalarType.BFloat16, CapacityFactor = 1.25, Kernels = kernels };
    var random = new Random(0);
    Tensor Batch() => torch.tensor(Enumerable.Range(0, batch * (sequence + 1)).Select(_ => (long)random.Next(config.VocabSize)).ToArray(), new long[] { batch, sequence + 1 }).to(device);
    // The part-by-part loss against the model's own on one batch: 0 when the parts reproduce the model's forward.
    double partByPartDifference;
    using (var scope = torch.NewDisposeScope())
    using (torch.no_grad())
    {
        var ids = Batch();
        using var whole = NewContext();
        using var parts = NewContext();
        var (expected, _, _) = model.Loss(ids.narrow(1, 0, sequence), ids.narrow(1, 1, sequence), whole, 0);
        var actual = PartByPartForward.Loss(model, ids.narrow(1, 0, sequence), ids.narrow(1, 1, sequence), parts, _ => { });
        partByPartDifference = Math.Abs(actual.ToDouble() - expected.ToDouble());
    }
    var timer = new SynchronisedPartTimer(device);
    for (int step = 0; step < steps + 2; step++)
    {
        if (step == 2) timer.Reset();
        using var scope = torch.NewDisposeScope();
        var ids = Batch();
        var inputs = ids.narrow(1, 0, sequence);
        var targets = ids.narrow(1, 1, sequence);
        optimizer.ZeroGrad();
        timer.Start();
        using var context = NewContext();
        var total = PartByPartForward.Loss(model, inputs, targets, context, timer.Lap);
        total.backward();
        timer.Lap("backward");
        var norm = optimizer.GradientNorm();
        optimizer.Step(3e-4, (1.0 / (norm + 1e-6)).clamp_max(1.0), torch.ones(1, device: device));
        timer.Lap("optimizer");
    }
    // The host's share: how long queuing the forward and backward passes takes without waiting for the device. When
    // it approaches the step time, the GPU waits for the CPU. This runs the model's own forward (model.Loss), unsplit.
    var enqueue = new List<(double Forward, double Backward, double Total)>();
    for (int step = 0; step < steps; step++)
    {
        using var scope = torch.NewDisposeScope();
        var ids = Batch();
        timer.Synchronise();
        var clock = Stopwatch.StartNew();
        using var context = NewContext();
        var (total, _, _) = model.Loss(ids.narrow(1, 0, sequence), ids.narrow(1, 1, sequence), context, 0);
        double forward = clock.Elapsed.TotalMilliseconds;
        total.backward();
        double backward = clock.Elapsed.TotalMilliseconds - forward;
        timer.Synchronise();
        enqueue.Add((forward, backward, clock.Elapsed.TotalMilliseconds));
        optimizer.ZeroGrad();
    }
    return new
    {
        check = "profile", config = name, device = device.ToString(), steps, batch, kernels = kernels.ToString(),
        ms_per_step = timer.Totals.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value / steps, 2)),
        host_enqueue_forward_ms = Math.Round(enqueue.Average(e => e.Forward), 2),
        host_enqueue_backward_ms = Math.Round(enqueue.Average(e => e.Backward), 2),
        forward_backward_device_ms = Math.Round(enqueue.Average(e => e.Total), 2),
        part_by_part_loss_difference = partByPartDifference,
    };
}

object PrecisionCurves(string name, string textFile, int steps)
{
    // The same run in float32 and in bfloat16 activations (float32 weights) on real text with byte-level tokens.
    var (config, batch, sequence) = Load(name);
    var tokenizer = MLNet.MoE.MoeTokenizer.ByteLevel();
    var stream = File.ReadLines(textFile).SelectMany(line => new[] { tokenizer.EndOfTextId }.Concat(tokenizer.Encode(line))).ToArray();
    double[] Curve(ScalarType computeType)
    {
        torch.manual_seed(0);
        using var model = new MoeCausalLM(config, seed: 0);
        model.to(device);
        var settings = new LanguageModelTrainingSettings
        {
            ContextLength = sequence, BatchSize = batch, Steps = steps,
            Optimizer = new OptimizerSettings { LearningRate = 1e-3, WarmupSteps = steps / 10 },
            Routing = new MoeRoutingSettings { CapacityFactor = 1.25 }, ComputeType = computeType, LogEverySteps = 10, MultiTokenPredictionWeight = 0, Seed = 5,
        };
        var reports = new List<LanguageModelProgress>();
        new LanguageModelTrainingLoop(model, settings, device).Run(stream, Array.Empty<int>(), reports.Add);
        return reports.Select(r => Math.Round(r.Loss, 4)).ToArray();
    }
    var fp32 = Curve(ScalarType.Float32);
    var bf16 = Curve(ScalarType.BFloat16);
    return new
    {
        check = "bf16-vs-fp32-loss-curve",
        config = name,
        device = device.ToString(),
        every_steps = 10,
        fp32_losses = fp32,
        bf16_losses = bf16,
        max_abs_difference = fp32.Zip(bf16, (a, b) => Math.Abs(a - b)).Max(),
    };
}

CheckResult CompareWithCpu(string name, int steps, double tolerance)
{
    var (config, _, _) = Load(name);
    double[] Run(Device target)
    {
        torch.manual_seed(0);
        using var model = new MoeCausalLM(config, seed: 0);
        model.to(target);
        var random = new Random(1);
        var stream = new int[64 * 129];
        for (int i = 0; i < stream.Length; i++) stream[i] = random.Next(config.VocabSize);
        var settings = new LanguageModelTrainingSettings
        {
            ContextLength = 128, BatchSize = 4, Steps = steps,
            Optimizer = new OptimizerSettings { LearningRate = 1e-3, WarmupSteps = 0, MinLearningRateRatio = 1 },
            Routing = new MoeRoutingSettings { CapacityFactor = 8 }, ComputeType = ScalarType.BFloat16, LogEverySteps = 1, MultiTokenPredictionWeight = 0, Seed = 5,
        };
        var reports = new List<LanguageModelProgress>();
        new LanguageModelTrainingLoop(model, settings, target).Run(stream, Array.Empty<int>(), reports.Add);
        return reports.Select(r => Math.Round(r.Loss, 5)).ToArray();
    }
    var gpu = Run(device);
    var cpu = Run(torch.CPU);
    double difference = gpu.Zip(cpu, (a, b) => Math.Abs(a - b)).DefaultIfEmpty(double.NaN).Max();
    // NaN (no steps, or a non-finite loss) fails too.
    bool passed = difference <= tolerance;
    return new CheckResult(new
    {
        check = "bf16-steps-cuda-vs-cpu",
        config = name,
        device = device.ToString(),
        cuda_losses = gpu,
        cpu_losses = cpu,
        max_abs_difference = difference,
        tolerance,
        passed,
    }, passed, $"max loss difference {difference:G3} between {device} and the CPU is above {tolerance:G3}");
}

/// <summary>Polls nvidia-smi for this process's GPU memory (TorchSharp exposes no CUDA memory statistics).</summary>
internal sealed class GpuMemoryMonitor : IDisposable
{
    private readonly Timer? timer;
    private long peakMiB;

    public GpuMemoryMonitor(Device device)
    {
        if (device.type != DeviceType.CUDA) return;
        timer = new Timer(_ => Poll(), null, 0, 500);
    }

    public double? PeakGiB
    {
        get
        {
            if (timer == null) return null;
            Poll();
            return Math.Round(Interlocked.Read(ref peakMiB) / 1024.0, 1);
        }
    }

    private void Poll()
    {
        try
        {
            var start = new ProcessStartInfo("nvidia-smi", "--query-compute-apps=pid,used_memory --format=csv,noheader,nounits") { RedirectStandardOutput = true, UseShellExecute = false };
            using var process = Process.Start(start)!;
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            int pid = Environment.ProcessId;
            foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var parts = line.Split(',');
                if (parts.Length == 2 && int.TryParse(parts[0].Trim(), out int p) && p == pid && long.TryParse(parts[1].Trim(), out long mib))
                {
                    long current;
                    do
                    {
                        current = Interlocked.Read(ref peakMiB);
                    }
                    while (mib > current && Interlocked.CompareExchange(ref peakMiB, mib, current) != current);
                }
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // nvidia-smi is not installed: no memory figure.
        }
    }

    public void Dispose() => timer?.Dispose();
}
