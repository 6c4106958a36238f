using System.Text.Json.Nodes;
using Microsoft.ML;
using TorchSharp;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>
/// The way back from distributed PyTorch: a checkpoint that transformers' DeepseekV3ForCausalLM trained with DDP on two
/// GPUs (from an MLNet.MoE export; see the fixture's README) imports into ML.NET with PyTorch's logits and validation loss.
/// </summary>
public class ScaleOutRoundTripTests
{
    private static readonly string Fixture = Path.Combine(TestPaths.RepositoryRoot, "tests", "MLNet.MoE.Tests", "Fixtures", "scale-out-ddp-2gpu");

    private static JsonObject Reference => JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture, "reference_logits.json")))!.AsObject();

    [Fact]
    public void PyTorchTrainedCheckpointGivesPyTorchsFloat32LogitsWithinOneThousandth()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.MoE().LoadHuggingFace(Fixture, device: ComputeDevice.Cpu);
        var reference = Reference;
        var rows = reference["input_ids"]!.AsArray().Select(r => r!.AsArray().Select(v => v!.GetValue<long>()).ToArray()).ToArray();
        var shape = reference["logits_shape"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
        var expected = reference["logits"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray();

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        model.Model.eval();
        var ids = torch.tensor(rows.SelectMany(r => r).ToArray(), new long[] { rows.Length, rows[0].Length });
        var logits = model.Model.Forward(ids, new ForwardContext());

        Assert.Equal(shape, logits.shape);
        float difference = (logits.reshape(-1) - torch.tensor(expected)).abs().max().item<float>();
        Assert.True(difference <= 1e-3f, $"max |logit difference| {difference}");
    }

    [Fact]
    public void ImportedCheckpointScoresTheValidationStreamAsPyTorchDid()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.MoE().LoadHuggingFace(Fixture, device: ComputeDevice.Cpu);
        string tokens = Path.Combine(Fixture, "tokens");
        var info = TokenFile.ReadHeader(tokens);
        var validation = TokenFile.ReadSplit(tokens, info, validation: true);
        var reference = Reference;

        var (loss, predicted) = StreamEvaluator.Evaluate(model.Model, validation, contextLength: 128, windowsPerPass: 32);

        Assert.Equal(info.Validation.Tokens - 1, predicted);
        Assert.Equal(reference["validation_loss_after"]!.GetValue<double>(), loss, 1e-3);
        // The PyTorch run lowered the validation loss of the model MLNet.MoE had exported.
        Assert.True(loss < reference["validation_loss_before"]!.GetValue<double>() - 0.1);
    }

    [Fact]
    public void ImportedCheckpointRunsInAnMLNetPipelineOnText()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.MoE().LoadHuggingFace(Fixture, promptColumnName: "Text", device: ComputeDevice.Cpu);
        Assert.Equal("byte-level", model.Tokenizer.Name);
        var rows = new[] { new TextRow { Text = "And the LORD spake unto Moses, saying," }, new TextRow { Text = "In the beginning God created the heaven and the earth." } };
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", model.Tokenizer).Fit(data).Append(model);

        var metrics = ml.MoE().Evaluate(pipeline.Transform(data), textColumnName: "Text");

        Assert.Equal(2, metrics.RowCount);
        // Verses in the style of its training text: far below the 257-way uniform guess (ln 257 = 5.55 nats).
        Assert.InRange(metrics.CrossEntropy, 0.1, 2.5);
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }
}
