// Bounded load test of the scoring service on loopback: starts the service in this process on 127.0.0.1 (a free port)
// once per scenario, sends POST /v1/score requests of one text each from 1, 8 and 64 concurrent clients, with
// micro-batching off (MaxBatchSize 1) and on, and with the cache hit rate at 0% and 90%, and prints JSON.
//
//   dotnet run --project samples/LoadGenerator -c Release -- --model artifacts/quickstart/model.zip [--requests 600] [--seconds 20] [--out result.json] [--onnx] [--max-wait-ms 2] [--arrival-gap-ms 0]
//
// Each scenario stops after --requests requests or --seconds seconds, whichever comes first, after a short warm-up.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using MLNet.MoE.Samples.ScoringService;
using MLNet.MoE.Samples.ScoringService.Backends;

var arguments = LoadArguments.Parse(args);
// --onnx: serve the same language model exported to ONNX (an ONNX-backed model.zip) instead of the TorchSharp one.
if (arguments.Onnx) arguments = arguments with { ModelPath = OnnxModelZip.FromLanguageModelZip(arguments.ModelPath) };
string corpus = Path.Combine(AppContext.BaseDirectory, "Data", "kjv-pentateuch.txt");
var verses = File.ReadLines(corpus).Where(l => l.Length > 0).ToList();
var scenarios = new List<Scenario>();
foreach (int clients in arguments.Clients)
{
    scenarios.Add(new Scenario("batching off", clients, BatchSize: 1, CacheHitRate: null));
    scenarios.Add(new Scenario("batching on", clients, BatchSize: arguments.MaxBatchSize, CacheHitRate: null));
}
foreach (double rate in new[] { 0.0, 0.9 }) scenarios.Add(new Scenario($"batching on, cache {rate:P0} hits", 64, arguments.MaxBatchSize, rate));

var results = new List<object>();
foreach (var scenario in scenarios)
{
    results.Add(await RunAsync(scenario));
    Console.Error.WriteLine(JsonSerializer.Serialize(results[^1]));
}
var report = new
{
    model = arguments.ModelPath,
    processorCount = Environment.ProcessorCount,
    requestsPerScenario = arguments.Requests,
    secondsPerScenario = arguments.Seconds,
    maxBatchWaitMilliseconds = arguments.MaxBatchWaitMilliseconds,
    batchArrivalGapMilliseconds = arguments.ArrivalGapMilliseconds,
    onnx = arguments.Onnx,
    scenarios = results,
};
string json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true });
Console.WriteLine(json);
if (arguments.OutputPath != null) File.WriteAllText(arguments.OutputPath, json);

async Task<object> RunAsync(Scenario scenario)
{
    await using var app = ScoringServiceHost.Build(new[] { "--Logging:LogLevel:Default=Warning" }, o =>
    {
        o.ModelPath = arguments.ModelPath;
        o.Urls = "http://127.0.0.1:0";
        o.MaxBatchSize = scenario.BatchSize;
        o.MaxBatchWaitMilliseconds = scenario.BatchSize == 1 ? 0 : arguments.MaxBatchWaitMilliseconds;
        o.BatchArrivalGapMilliseconds = scenario.BatchSize == 1 ? 0 : arguments.ArrivalGapMilliseconds;
        o.CacheEnabled = scenario.CacheHitRate.HasValue;
        o.QueueCapacity = 4096;
    });
    await app.StartAsync();
    var backend = app.Services.GetRequiredService<IScoringBackend>();
    var texts = FittingTexts(backend).ToList();
    using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = scenario.Clients }) { BaseAddress = new Uri(app.Urls.Single()) };

    // Warm-up (JIT, first forward passes) on texts the measured part does not use; with a hit rate, the hot set is cached here.
    var hot = texts.Take(32).ToList();
    foreach (string text in hot) (await client.PostAsJsonAsync("/v1/score", new { texts = new[] { text } })).EnsureSuccessStatusCode();
    var fresh = new Queue<string>(texts.Skip(hot.Count));
    var before = await client.GetFromJsonAsync<JsonElement>("/metrics");

    var random = new Random(7);
    var latencies = new List<double>();
    int sent = 0, failed = 0;
    var gate = new object();
    var clock = Stopwatch.StartNew();
    var deadline = TimeSpan.FromSeconds(arguments.Seconds);
    async Task Client()
    {
        while (true)
        {
            string text;
            lock (gate)
            {
                if (sent >= arguments.Requests || clock.Elapsed > deadline) return;
                sent++;
                bool useHot = scenario.CacheHitRate is double rate && random.NextDouble() < rate;
                text = useHot || fresh.Count == 0 ? hot[random.Next(hot.Count)] : fresh.Dequeue();
            }
            long start = Stopwatch.GetTimestamp();
            using var response = await client.PostAsJsonAsync("/v1/score", new { texts = new[] { text } });
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            lock (gate)
            {
                if (response.IsSuccessStatusCode) latencies.Add(ms);
                else failed++;
            }
        }
    }
    await Task.WhenAll(Enumerable.Range(0, scenario.Clients).Select(_ => Task.Run(Client)));
    double seconds = clock.Elapsed.TotalSeconds;
    var after = await client.GetFromJsonAsync<JsonElement>("/metrics");
    await app.StopAsync();

    latencies.Sort();
    double Percentile(double q) => latencies.Count == 0 ? double.NaN : latencies[Math.Clamp((int)Math.Ceiling(q * latencies.Count) - 1, 0, latencies.Count - 1)];
    long Delta(Func<JsonElement, JsonElement> pick) => pick(after).GetInt64() - pick(before).GetInt64();
    long hits = Delta(m => m.GetProperty("cache").GetProperty("hits"));
    long misses = Delta(m => m.GetProperty("cache").GetProperty("misses"));
    long batches = Delta(m => m.GetProperty("batchSize").GetProperty("count"));
    long scoredTexts = latencies.Count - hits;
    return new
    {
        scenario = scenario.Name,
        clients = scenario.Clients,
        maxBatchSize = scenario.BatchSize,
        requests = latencies.Count,
        failed,
        seconds = Math.Round(seconds, 2),
        requestsPerSecond = Math.Round(latencies.Count / seconds, 1),
        p50Milliseconds = Math.Round(Percentile(0.5), 2),
        p99Milliseconds = Math.Round(Percentile(0.99), 2),
        meanBatchSize = batches == 0 ? 0 : Math.Round((double)scoredTexts / batches, 2),
        cacheHitRate = scenario.CacheHitRate.HasValue && hits + misses > 0 ? Math.Round((double)hits / (hits + misses), 3) : (double?)null,
    };
}

IEnumerable<string> FittingTexts(IScoringBackend backend)
{
    // Verses cut at a word boundary until they fit the model's context, each made unique by its line number.
    for (int i = 0; i < verses.Count; i++)
    {
        var words = verses[i].Split(' ').ToList();
        while (words.Count > 0 && !Fits(backend, $"{string.Join(' ', words)} ({i})")) words.RemoveAt(words.Count - 1);
        if (words.Count > 0) yield return $"{string.Join(' ', words)} ({i})";
    }
}

static bool Fits(IScoringBackend backend, string text)
{
    try
    {
        backend.Prepare(text, "text");
        return true;
    }
    catch (RequestRejectedException)
    {
        return false;
    }
}

/// <summary>One load-test configuration.</summary>
internal sealed record Scenario(string Name, int Clients, int BatchSize, double? CacheHitRate);

/// <summary>Command-line options.</summary>
internal sealed record LoadArguments(string ModelPath, int Requests, double Seconds, int MaxBatchSize, double MaxBatchWaitMilliseconds, int[] Clients, string? OutputPath, bool Onnx, double ArrivalGapMilliseconds)
{
    public static LoadArguments Parse(string[] args)
    {
        string? model = null, output = null;
        int requests = 600, maxBatch = 64;
        double seconds = 20, wait = 2, gap = 0;
        int[] clients = { 1, 8, 64 };
        bool onnx = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--model": model = Next(); break;
                case "--requests": requests = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-batch": maxBatch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-wait-ms": wait = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--clients": clients = Next().Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--out": output = Next(); break;
                case "--onnx": onnx = true; break;
                case "--arrival-gap-ms": gap = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"Unknown argument '{args[i]}'. Use --model PATH, --requests N, --seconds S, --max-batch N, --max-wait-ms MS, --clients 1,8,64, --out FILE, --onnx, --arrival-gap-ms MS.");
            }
        }
        if (model == null) throw new ArgumentException("--model PATH (a model.zip, for example the quick start's) is required.");
        if (requests < 1 || requests > 100_000) throw new ArgumentOutOfRangeException(nameof(args), requests, "--requests must be between 1 and 100000.");
        if (seconds <= 0 || seconds > 600) throw new ArgumentOutOfRangeException(nameof(args), seconds, "--seconds must be in (0, 600].");
        if (clients.Any(c => c < 1 || c > 1024)) throw new ArgumentOutOfRangeException(nameof(args), "--clients must be between 1 and 1024 each.");
        return new LoadArguments(model, requests, seconds, maxBatch, wait, clients, output, onnx, gap);
    }
}
