// Bounded load test of the scoring service. By default it starts the service in this process on 127.0.0.1 (a free port)
// once per scenario and sends POST /v1/score requests of one text each from 1, 8 and 64 concurrent clients, with
// micro-batching off (MaxBatchSize 1) and on, and with the cache hit rate at 0% and 90%. With --url it drives a service
// that already runs (a container, another machine, a set-up with Redis) with the same closed-loop clients instead.
// Prints JSON.
//
//   dotnet run --project samples/LoadGenerator -c Release -- --model artifacts/quickstart/model.zip [--requests 600] [--seconds 20] [--out result.json] [--onnx] [--max-wait-ms 2] [--arrival-gap-ms 0]
//   dotnet run --project samples/LoadGenerator -c Release -- --url http://127.0.0.1:5080 [--api-key KEY] [--clients 1,16,64] [--hit-rate 0] [--seconds 20]
//
// Each scenario stops after --requests requests or --seconds seconds, whichever comes first, after a short warm-up.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using MLNet.MoE.Samples.LoadGenerator;
using MLNet.MoE.Samples.ScoringService;
using MLNet.MoE.Samples.ScoringService.Backends;

var arguments = LoadArguments.Parse(args);
// --onnx: serve the same language model exported to ONNX (an ONNX-backed model.zip) instead of the TorchSharp one.
if (arguments.Onnx) arguments = arguments with { ModelPath = OnnxModelZip.FromLanguageModelZip(arguments.ModelPath!) };
string corpus = Path.Combine(AppContext.BaseDirectory, "Data", "kjv-pentateuch.txt");
var verses = File.ReadLines(corpus).Where(l => l.Length > 0).ToList();
var scenarios = new List<Scenario>();
if (arguments.Url != null)
{
    foreach (int clients in arguments.Clients) scenarios.Add(new Scenario($"deployed service, cache {arguments.HitRate:P0} hits", clients, BatchSize: 0, CacheHitRate: arguments.HitRate));
}
else
{
    foreach (int clients in arguments.Clients)
    {
        scenarios.Add(new Scenario("batching off", clients, BatchSize: 1, CacheHitRate: null));
        scenarios.Add(new Scenario("batching on", clients, BatchSize: arguments.MaxBatchSize, CacheHitRate: null));
    }
    foreach (double rate in new[] { 0.0, 0.9 }) scenarios.Add(new Scenario($"batching on, cache {rate:P0} hits", 64, arguments.MaxBatchSize, rate));
}

var results = new List<object>();
int answeredRequests = 0, failedRequests = 0, unansweredScenarios = 0;
foreach (var scenario in scenarios)
{
    results.Add(arguments.Url != null ? await RunRemoteAsync(scenario, arguments.Url) : await RunInProcessAsync(scenario));
    Console.Error.WriteLine(JsonSerializer.Serialize(results[^1]));
}
var report = new
{
    model = arguments.ModelPath,
    url = arguments.Url?.ToString(),
    processorCount = Environment.ProcessorCount,
    requestsPerScenario = arguments.Requests,
    secondsPerScenario = arguments.Seconds,
    maxBatchWaitMilliseconds = arguments.Url == null ? arguments.MaxBatchWaitMilliseconds : (double?)null,
    batchArrivalGapMilliseconds = arguments.Url == null ? arguments.ArrivalGapMilliseconds : (double?)null,
    onnx = arguments.Onnx,
    scenarios = results,
};
string json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true });
Console.WriteLine(json);
if (arguments.OutputPath != null) File.WriteAllText(arguments.OutputPath, json);
// A load test whose requests failed is a failed run: exit 1 when more than --max-failure-rate of them failed (none by
// default) or when a scenario was answered not once.
int sentRequests = answeredRequests + failedRequests;
double failureRate = sentRequests == 0 ? 1 : (double)failedRequests / sentRequests;
if (failureRate > arguments.MaxFailureRate || unansweredScenarios > 0)
{
    Console.Error.WriteLine($"load test failed: {failedRequests} of {sentRequests} requests failed (allowed: {arguments.MaxFailureRate:P1}), " +
        $"{unansweredScenarios} scenario(s) answered no request; see each scenario's failures above.");
    return 1;
}
return 0;

async Task<object> RunInProcessAsync(Scenario scenario)
{
    await using var app = ScoringServiceHost.Build(new[] { "--urls=http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning" }, o =>
    {
        o.ModelPath = arguments.ModelPath!;
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
    var result = await DriveAsync(client, scenario, texts);
    await app.StopAsync();
    return result;
}

async Task<object> RunRemoteAsync(Scenario scenario, Uri url)
{
    using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = scenario.Clients }) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(120) };
    if (arguments.ApiKey != null) client.DefaultRequestHeaders.Add("X-Api-Key", arguments.ApiKey);
    // Verses cut at a word boundary to --max-chars, each made unique by its line number and a run id (so a previous run's
    // results in a shared Redis are not hits); a text the model still cannot take counts as failed.
    string run = Guid.NewGuid().ToString("N")[..6];
    var texts = verses.Select((v, i) => $"{Cut(v, arguments.MaxCharacters)} ({run}-{i})").ToList();
    return await DriveAsync(client, scenario, texts);
}

async Task<object> DriveAsync(HttpClient client, Scenario scenario, List<string> texts)
{
    // Warm-up (JIT, first forward passes) on texts the measured part does not use; with a hit rate, the hot set is cached here.
    var hot = texts.Take(32).ToList();
    foreach (string text in hot) (await client.PostAsJsonAsync("/v1/score", new { texts = new[] { text } })).EnsureSuccessStatusCode();
    var fresh = new Queue<string>(texts.Skip(hot.Count));
    var before = PrometheusText.Parse(await client.GetStringAsync("/metrics"));

    var random = new Random(7);
    var latencies = new List<double>();
    var failures = new SortedDictionary<string, int>(StringComparer.Ordinal);
    var completedPerSecond = new List<int>();
    int sent = 0;
    var gate = new object();
    var clock = Stopwatch.StartNew();
    var deadline = TimeSpan.FromSeconds(arguments.Seconds);
    using var progress = new ProgressReport(scenario.Name);
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
                if (fresh.Count == 0) fresh = new Queue<string>(texts.Skip(hot.Count));
                text = useHot ? hot[random.Next(hot.Count)] : fresh.Dequeue();
            }
            long start = Stopwatch.GetTimestamp();
            string? failure = null;
            try
            {
                using var response = await client.PostAsJsonAsync("/v1/score", new { texts = new[] { text } });
                if (!response.IsSuccessStatusCode) failure = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            }
            catch (HttpRequestException e)
            {
                failure = e.HttpRequestError.ToString();
            }
            catch (TaskCanceledException)
            {
                failure = "timeout";
            }
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            lock (gate)
            {
                if (failure == null)
                {
                    latencies.Add(ms);
                    int second = (int)clock.Elapsed.TotalSeconds;
                    while (completedPerSecond.Count <= second) completedPerSecond.Add(0);
                    completedPerSecond[second]++;
                }
                else
                {
                    failures[failure] = failures.GetValueOrDefault(failure) + 1;
                }
                progress.Update(latencies.Count, arguments.Requests, clock.Elapsed);
            }
        }
    }
    await Task.WhenAll(Enumerable.Range(0, scenario.Clients).Select(_ => Task.Run(Client)));
    double seconds = clock.Elapsed.TotalSeconds;
    answeredRequests += latencies.Count;
    failedRequests += failures.Values.Sum();
    if (latencies.Count == 0) unansweredScenarios++;
    var after = PrometheusText.Parse(await client.GetStringAsync("/metrics"));

    latencies.Sort();
    double Percentile(double q) => latencies.Count == 0 ? double.NaN : latencies[Math.Clamp((int)Math.Ceiling(q * latencies.Count) - 1, 0, latencies.Count - 1)];
    double Delta(string name) => after.Sum(name) - before.Sum(name);
    double hits = Delta("scoring_cache_hits_total");
    double misses = Delta("scoring_cache_misses_total");
    double batches = Delta("scoring_batch_size_count");
    double batchedTexts = Delta("scoring_batch_size_sum");
    return new
    {
        scenario = scenario.Name,
        clients = scenario.Clients,
        maxBatchSize = scenario.BatchSize == 0 ? (int?)null : scenario.BatchSize,
        requests = latencies.Count,
        failed = failures.Values.Sum(),
        failures,
        seconds = Math.Round(seconds, 2),
        requestsPerSecond = Math.Round(latencies.Count / seconds, 1),
        p50Milliseconds = Math.Round(Percentile(0.5), 2),
        p99Milliseconds = Math.Round(Percentile(0.99), 2),
        maxMilliseconds = Math.Round(latencies.Count == 0 ? double.NaN : latencies[^1], 2),
        meanBatchSize = batches == 0 ? 0 : Math.Round(batchedTexts / batches, 2),
        cacheHitRate = scenario.CacheHitRate.HasValue && hits + misses > 0 ? Math.Round(hits / (hits + misses), 3) : (double?)null,
        cacheErrors = Delta("scoring_cache_errors_total"),
        completedPerSecond,
    };
}

static string Cut(string text, int maxCharacters)
{
    if (text.Length <= maxCharacters) return text;
    int space = text.LastIndexOf(' ', maxCharacters);
    return text[..(space > 0 ? space : maxCharacters)];
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
internal sealed record LoadArguments(string? ModelPath, Uri? Url, string? ApiKey, double HitRate, int MaxCharacters, int Requests, double Seconds, int MaxBatchSize,
    double MaxBatchWaitMilliseconds, int[] Clients, string? OutputPath, bool Onnx, double ArrivalGapMilliseconds, double MaxFailureRate)
{
    private const string Usage = "Use --model PATH (in-process service) or --url BASE (a running service) [--api-key KEY] [--hit-rate 0..1] [--max-chars N], " +
        "--requests N, --seconds S, --max-batch N, --max-wait-ms MS, --clients 1,8,64, --out FILE, --onnx, --arrival-gap-ms MS, --max-failure-rate 0..1 (default 0).";

    public static LoadArguments Parse(string[] args)
    {
        string? model = null, output = null, apiKey = null;
        Uri? url = null;
        int requests = 600, maxBatch = 64, maxChars = 40;
        double seconds = 20, wait = 2, gap = 0, hitRate = 0, maxFailureRate = 0;
        int[] clients = { 1, 8, 64 };
        bool onnx = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--model": model = Next(); break;
                case "--url":
                    string given = Next();
                    if (!Uri.TryCreate(given, UriKind.Absolute, out url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
                        throw new ArgumentException($"--url '{given}' is not an http:// or https:// address.");
                    break;
                case "--api-key": apiKey = Next(); break;
                case "--hit-rate": hitRate = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-chars": maxChars = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--requests": requests = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-batch": maxBatch = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-wait-ms": wait = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--clients": clients = Next().Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--out": output = Next(); break;
                case "--onnx": onnx = true; break;
                case "--arrival-gap-ms": gap = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--max-failure-rate": maxFailureRate = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"Unknown argument '{args[i]}'. {Usage}");
            }
        }
        if ((model == null) == (url == null)) throw new ArgumentException($"Give exactly one of --model PATH (a model.zip, for example the quick start's) and --url BASE. {Usage}");
        if (url != null && onnx) throw new ArgumentException("--onnx applies to the in-process service only (--model); a deployed service serves the model it was given.");
        if (requests < 1 || requests > 1_000_000) throw new ArgumentOutOfRangeException(nameof(args), requests, "--requests must be between 1 and 1000000.");
        if (seconds <= 0 || seconds > 3600) throw new ArgumentOutOfRangeException(nameof(args), seconds, "--seconds must be in (0, 3600].");
        if (clients.Any(c => c < 1 || c > 1024)) throw new ArgumentOutOfRangeException(nameof(args), "--clients must be between 1 and 1024 each.");
        if (!(hitRate >= 0 && hitRate <= 1)) throw new ArgumentOutOfRangeException(nameof(args), hitRate, "--hit-rate must be between 0 and 1.");
        if (!(maxFailureRate >= 0 && maxFailureRate <= 1)) throw new ArgumentOutOfRangeException(nameof(args), maxFailureRate, "--max-failure-rate must be between 0 and 1.");
        if (maxChars < 1) throw new ArgumentOutOfRangeException(nameof(args), maxChars, "--max-chars must be at least 1.");
        return new LoadArguments(model, url, apiKey, hitRate, maxChars, requests, seconds, maxBatch, wait, clients, output, onnx, gap, maxFailureRate);
    }
}
