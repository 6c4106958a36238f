using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNet.MoE;

/// <summary>
/// Times loading a language-model zip of a benchmark config with <c>mlContext.MoE().LoadModel</c>, and one plain
/// decompression of every entry, the unit the integrity checks add: one pass that checks every entry's CRC-32 and, for
/// the weights, their names and shapes against the config before the model is built.
/// </summary>
internal static class ZipLoadBenchmark
{
    private sealed class TokenRow
    {
        public int[] Tokens { get; set; } = [];
    }

    public static object Run(string name, JsonObject configs, int repeats)
    {
        var entry = configs[name] ?? throw new ArgumentException($"No config '{name}' in configs.json.");
        var config = MoeModelConfig.FromJson(entry["model"]!.ToJsonString(), "configs.json: " + name) with { NumNextnPredictLayers = 0 };
        var tokenizer = config.VocabSize >= 50257 ? MoeTokenizer.Gpt2() : MoeTokenizer.ByteLevel();
        string folder = Path.Combine(Path.GetTempPath(), "mlnet-moe-load-benchmark-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var ml = new MLContext(seed: 1);
            string checkpoint = Path.Combine(folder, "checkpoint");
            using (var model = new MoeCausalLM(config, 0)) HuggingFaceCheckpoint.Save(model, checkpoint);
            string zip = Path.Combine(folder, "model.zip");
            using (var transformer = ml.MoE().LoadHuggingFace(checkpoint, tokenizer, device: ComputeDevice.Cpu))
            {
                var schema = ml.Data.LoadFromEnumerable(new[] { new TokenRow { Tokens = [1, 2] } }).Schema;
                ml.MoE().SaveModel(transformer, schema, zip);
            }
            var loads = new List<double>();
            var passes = new List<double>();
            for (int r = 0; r < repeats; r++)
            {
                var clock = Stopwatch.StartNew();
                var loaded = ml.MoE().LoadModel(zip, out _);
                loads.Add(clock.Elapsed.TotalSeconds);
                (loaded as IDisposable)?.Dispose();
                clock.Restart();
                using (var archive = ZipFile.OpenRead(zip))
                {
                    byte[] buffer = new byte[1 << 16];
                    foreach (var e in archive.Entries)
                    {
                        using var stream = e.Open();
                        while (stream.Read(buffer, 0, buffer.Length) > 0)
                        {
                        }
                    }
                }
                passes.Add(clock.Elapsed.TotalSeconds);
            }
            return new
            {
                check = "load",
                config = name,
                parameters = config.ParameterCount(),
                zip_bytes = new FileInfo(zip).Length,
                repeats,
                load_seconds = Math.Round(loads.Min(), 3),
                one_decompression_pass_seconds = Math.Round(passes.Min(), 3),
                integrity_passes = 1,
            };
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
