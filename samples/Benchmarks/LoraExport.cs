using System.Text.Json;
using MLNet.MoE;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Writes LoRA adapters trained here, in PEFT's format, with the logits they give on the tiny fixture, so PEFT can load
/// them onto the same base (tools/gpu/peft_parity.py) and compare. With <c>trainRouterAndNorms</c> the adapters also
/// hold router and norm copies (LoraOptions.TrainRouter, TrainNorms), written as PEFT's modules_to_save.
/// </summary>
internal static class LoraExport
{
    public static object Run(string fixture, string outDirectory, bool trainRouterAndNorms = false)
    {
        using var model = HuggingFaceCheckpoint.Load(fixture);
        foreach (var p in model.parameters()) p.requires_grad_(false);
        var options = new LoraOptions { Rank = 4, Alpha = 8, TrainRouter = trainRouterAndNorms, TrainNorms = trainRouterAndNorms };
        using var adapters = LoraAdapters.Create(model, options, seed: 5, optionName: "lora");
        // Non-zero B factors, as after training, so the comparison exercises both factors.
        using (torch.no_grad())
        using (var generator = new Generator(6))
        {
            // Factors in ±0.2; trained norm scales around 1 and router matrices moved by ±0.2, as after training.
            foreach (var (name, factor) in adapters.NamedFactors())
            {
                if (name.Contains("lora_", StringComparison.Ordinal)) factor.uniform_(-0.2, 0.2, generator);
                else if (name.EndsWith("mlp.gate.weight", StringComparison.Ordinal)) factor.add_(torch.empty(factor.shape).uniform_(-0.2, 0.2, generator).to(factor.device));
                else factor.uniform_(0.5, 1.5, generator);
            }
        }
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "expected.json")));
        long[][] ids = expected.RootElement.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        float[] logits;
        using (var scope = torch.NewDisposeScope())
        using (torch.no_grad())
        using (var context = new ForwardContext { Adapters = adapters })
        {
            logits = model.Forward(torch.tensor(ids.SelectMany(r => r).ToArray(), new long[] { ids.Length, ids[0].Length }), context).contiguous().data<float>().ToArray();
        }
        PeftAdapterFiles.Save(adapters, model.Config, outDirectory);
        File.WriteAllText(Path.Combine(outDirectory, "mlnet_logits.json"), JsonSerializer.Serialize(new { input_ids = ids, logits }));
        return new { check = "lora-export", adapters = outDirectory, modules = adapters.AdaptedModules.Count(), trainedInFull = adapters.TrainedModules.Count(), logits = logits.Length };
    }
}
