using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE;

/// <summary>
/// The token store's measurements: tokenization into a store (MB/s, peak RSS), the time to resume an export killed
/// half-way, and training from the memory-mapped store against training from the same corpus in memory. Every mode
/// prints one JSON object.
/// </summary>
internal static class TokenStoreBenchmark
{
    /// <summary>One text line = one document.</summary>
    private sealed class Line
    {
        [LoadColumn(0)]
        public string Text { get; set; } = "";
    }

    private sealed class TokenRow
    {
        [VectorType]
        public int[] Tokens { get; set; } = [];
    }

    private static IDataView Lines(MLContext ml, string textFile) =>
        // One column over the whole line: the corpus has no tabs (they were turned into spaces), and no quoting.
        ml.Data.LoadFromTextFile<Line>(textFile, separatorChar: '\t', allowQuoting: false, trimWhitespace: false);

    private static MoeTokenizer Tokenizer(string name) => name switch
    {
        "gpt2" => MoeTokenizer.Gpt2(),
        "byte-level" => MoeTokenizer.ByteLevel(),
        _ => throw new ArgumentException($"--tokenizer {name}: gpt2 or byte-level."),
    };

    /// <summary>Peak resident set size of this process (VmHWM), in MiB.</summary>
    private static double PeakRssMiB()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        return double.NaN;
    }

    /// <summary>Tokenizes <paramref name="textFile"/> (one document a line) into a store in <paramref name="storeDirectory"/>.</summary>
    public static object Build(string textFile, string storeDirectory, string tokenizerName, int workers, int chunkCharacters, bool resume)
    {
        var ml = new MLContext(seed: 1);
        var reports = new List<TokenExportProgress>();
        long bytes = new FileInfo(textFile).Length;
        var options = new TokenExportOptions
        {
            TextColumnName = "Text", Tokenizer = Tokenizer(tokenizerName), Workers = workers, ChunkCharacters = chunkCharacters, Resume = resume,
            Progress = new Progress(p =>
            {
                reports.Add(p);
                Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0:N0} rows, {1:N0} MB at {2:N1} MB/s, RSS peak {3:N0} MiB", p.Rows, p.Megabytes, p.MegabytesPerSecond, PeakRssMiB()));
            }),
        };
        var clock = Stopwatch.StartNew();
        var info = ml.MoE().ExportTokens(Lines(ml, textFile), storeDirectory, options);
        double seconds = clock.Elapsed.TotalSeconds;
        var last = reports[^1];
        return new
        {
            mode = "token-store build",
            text_file_bytes = bytes,
            tokenizer = tokenizerName,
            workers,
            processor_count = Environment.ProcessorCount,
            chunk_characters = chunkCharacters,
            seconds = Math.Round(seconds, 2),
            megabytes_tokenized = Math.Round(last.Megabytes, 1),
            megabytes_per_second = Math.Round(last.Megabytes / seconds, 2),
            rows = last.Rows,
            train_tokens = info.Train.Tokens,
            validation_tokens = info.Validation.Tokens,
            documents = info.Train.Documents + info.Validation.Documents,
            store_bytes = Directory.EnumerateFiles(storeDirectory).Sum(f => new FileInfo(f).Length),
            peak_rss_mib = Math.Round(PeakRssMiB(), 1),
            identity = info.Identity,
        };
    }

    /// <summary>
    /// Starts <c>token-store build</c> in a child process, kills it once its journal has committed
    /// <paramref name="killAt"/> of the text, then resumes in this process and reports how long the resume took to get
    /// back to where the child was killed (the rows skipped) and to finish.
    /// </summary>
    public static object Resume(string textFile, string storeDirectory, string tokenizerName, int workers, int chunkCharacters, double killAt)
    {
        long bytes = new FileInfo(textFile).Length;
        string journal = Path.Combine(storeDirectory, "tokens.journal");
        var child = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        if (!Environment.ProcessPath!.EndsWith("Benchmarks", StringComparison.Ordinal)) child.ArgumentList.Add(typeof(TokenStoreBenchmark).Assembly.Location);
        foreach (string a in new[] { "token-store", "build", textFile, storeDirectory, "--tokenizer", tokenizerName, "--workers", workers.ToString(CultureInfo.InvariantCulture),
            "--chunk", chunkCharacters.ToString(CultureInfo.InvariantCulture), "--fresh" }) child.ArgumentList.Add(a);
        using var process = Process.Start(child)!;
        process.ErrorDataReceived += (_, _) => { };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        long killChunks = (long)Math.Ceiling(killAt * bytes / chunkCharacters);
        while (!process.HasExited && (File.Exists(journal) ? new FileInfo(journal).Length / 64 : 0) < killChunks) Thread.Sleep(200);
        if (process.HasExited) throw new InvalidOperationException("The export finished before it could be killed: use a larger text file.");
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
        long committed = new FileInfo(journal).Length / 64;

        var ml = new MLContext(seed: 1);
        var clock = Stopwatch.StartNew();
        double? backAtKill = null;
        var options = new TokenExportOptions
        {
            TextColumnName = "Text", Tokenizer = Tokenizer(tokenizerName), Workers = workers, ChunkCharacters = chunkCharacters,
            Progress = new Progress(p => backAtKill ??= p.Chunks > committed ? clock.Elapsed.TotalSeconds : null),
        };
        // The first commit after the kill point: reading past the committed rows, plus one chunk's tokenization.
        var info = ml.MoE().ExportTokens(Lines(ml, textFile), storeDirectory, options);
        return new
        {
            mode = "token-store resume",
            text_file_bytes = bytes,
            tokenizer = tokenizerName,
            workers,
            kill_at = killAt,
            chunks_committed_at_kill = committed,
            seconds_to_first_new_chunk = backAtKill is { } s ? Math.Round(s, 2) : (double?)null,
            seconds_to_finish = Math.Round(clock.Elapsed.TotalSeconds, 2),
            peak_rss_mib = Math.Round(PeakRssMiB(), 1),
            identity = info.Identity,
        };
    }

    /// <summary>
    /// Training tokens/s of <paramref name="config"/> from a token store (memory-mapped) and from the same training
    /// stream in memory (its documents as IDataView rows), the same steps and seed; with <paramref name="sparseTokens"/>,
    /// also a store of that many tokens (a sparse file) trained a few steps, to show it is accepted.
    /// </summary>
    public static object Train(string textFile, string workDirectory, MoeModelConfig config, string tokenizerName, int steps, int batch, int context, ComputeDevice device, long sparseTokens)
    {
        var ml = new MLContext(seed: 1) { GpuDeviceId = device == ComputeDevice.Cuda ? 0 : null, FallbackToCpu = false };
        string storeDirectory = Path.Combine(workDirectory, "store");
        var tokenizer = Tokenizer(tokenizerName);
        ml.MoE().ExportTokens(Lines(ml, textFile), storeDirectory, new TokenExportOptions { TextColumnName = "Text", Tokenizer = tokenizer, ValidationFraction = 0.01, Seed = 1, Resume = false });
        LanguageModelOptions Options() => new()
        {
            Model = config, Device = device, MaxSteps = steps, BatchSize = batch, ContextLength = context, LogEverySteps = Math.Max(1, steps / 10),
            WarmupSteps = Math.Min(10, steps / 2), ValidationFraction = 0.01, Seed = 1, Tokenizer = tokenizer,
        };
        static double SteadyTokensPerSecond(LanguageModelTrainingSummary summary) =>
            summary.History.Skip(1).Select(h => h.TokensPerSecond).DefaultIfEmpty(double.NaN).Average();

        // Store, memory, memory, store (ABBA): each path runs once while the process is fresh and once after the other,
        // so the device's warm-up (kernel compilation, allocator growth) favours neither.
        var fromStore = new List<object>();
        var inMemory = new List<object>();
        using (var store = ml.MoE().LoadTokens(storeDirectory))
        {
            // The same documents, in memory: the trainer reads the rows and packs them (validation fraction 0: the store's training split is all it gets).
            var rows = ml.Data.CreateEnumerable<TokenRow>(store, reuseRowObject: false).ToList();
            foreach (bool fromTheStore in new[] { true, false, false, true })
            {
                var options = Options();
                if (!fromTheStore) options.ValidationFraction = 0;
                var clock = Stopwatch.StartNew();
                var summary = fromTheStore
                    ? ml.MoE().Trainers.LanguageModel(options).Fit(store).TrainingSummary!
                    : ml.MoE().Trainers.LanguageModel(options).Fit(ml.Data.LoadFromEnumerable(rows)).TrainingSummary!;
                (fromTheStore ? fromStore : inMemory).Add(new { tokens_per_second = Math.Round(SteadyTokensPerSecond(summary)), seconds = Math.Round(clock.Elapsed.TotalSeconds, 1), final_loss = summary.FinalTrainingLoss, stream_tokens = summary.TrainingStreamTokens, peak_rss_mib = Math.Round(PeakRssMiB()) });
            }
        }
        object? large = null;
        if (sparseTokens > 0)
        {
            string sparse = Path.Combine(workDirectory, "sparse-store");
            SparseStore.Write(sparse, sparseTokens, tokenizer);
            using var store = ml.MoE().LoadTokens(sparse, verifyChecksums: false);
            var summary = ml.MoE().Trainers.LanguageModel(Options()).Fit(store).TrainingSummary!;
            large = new { stream_tokens = summary.TrainingStreamTokens, accepted = true, tokens_per_second = Math.Round(SteadyTokensPerSecond(summary)), final_loss = summary.FinalTrainingLoss };
        }
        Directory.Delete(workDirectory, recursive: true);
        return new { mode = "token-store train", device = device.ToString(), steps, batch, context, from_store = fromStore, in_memory = inMemory, sparse_store = large };
    }

    private sealed class Progress(Action<TokenExportProgress> report) : IProgress<TokenExportProgress>
    {
        public void Report(TokenExportProgress value) => report(value);
    }
}
