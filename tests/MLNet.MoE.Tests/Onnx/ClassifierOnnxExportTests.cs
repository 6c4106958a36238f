using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>The text classifier exported to ONNX scores right-padded batches as the TorchSharp classifier does.</summary>
public class ClassifierOnnxExportTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(TextPooling.Mean, 0)]
    [InlineData(TextPooling.LastToken, 0)]
    [InlineData(TextPooling.Mean, 24)]
    public void OnnxProbabilitiesOfAPaddedBatchMatchTheTrainedClassifier(TextPooling pooling, int headHiddenSize)
    {
        var ml = new MLContext(seed: 1);
        var options = Options(epochs: 1);
        options.MaxSteps = 12;
        options.Pooling = pooling;
        options.HeadHiddenSize = headHiddenSize;
        var model = ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(64)));
        using var classifier = Classifier(model);
        string directory = TestPaths.NewTempDirectory();
        ml.MoE().ExportOnnx(classifier, directory);

        var texts = Reviews(200).Skip(150).Take(6).Select(r => r.Text).Append("").ToList();
        var sequences = texts.Select(t => classifier.Encode(t)).ToList();
        var expected = classifier.PredictProbabilities(sequences);
        int width = sequences.Max(s => s.Length);
        var ids = new long[sequences.Count * width];
        var mask = new long[sequences.Count * width];
        for (int r = 0; r < sequences.Count; r++)
        {
            for (int t = 0; t < width; t++)
            {
                bool real = t < sequences[r].Length;
                ids[r * width + t] = real ? sequences[r][t] : classifier.Tokenizer.EndOfTextId;
                mask[r * width + t] = real ? 1 : 0;
            }
        }

        using var session = new InferenceSession(Path.Combine(directory, "model.onnx"));
        using var results = session.Run(new[]
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, new[] { sequences.Count, width })),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, new[] { sequences.Count, width })),
        });
        var probabilities = results.Single(r => r.Name == "probabilities").AsTensor<float>();
        var logits = results.Single(r => r.Name == "logits").AsTensor<float>().ToArray();
        float[] torchLogits;
        using (var scope = TorchSharp.torch.NewDisposeScope())
        using (var noGrad = TorchSharp.torch.no_grad())
        {
            var lengths = TorchSharp.torch.tensor(sequences.Select(s => (long)s.Length).ToArray());
            torchLogits = classifier.Model.Forward(TorchSharp.torch.tensor(ids, new long[] { sequences.Count, width }), lengths, new ForwardContext())
                .Logits.contiguous().data<float>().ToArray();
        }
        double logitDifference = logits.Zip(torchLogits, (a, b) => Math.Abs((double)a - b)).Max();
        output.WriteLine($"logits from {torchLogits.Min():F4} to {torchLogits.Max():F4}; max |onnx - torch| = {logitDifference:E3}");
        Assert.True(logitDifference < 1e-4, $"max logit |onnx - torch| = {logitDifference:E3}");
        Assert.Equal(new[] { sequences.Count, 2 }, probabilities.Dimensions.ToArray());
        double difference = 0;
        for (int r = 0; r < sequences.Count; r++)
        {
            for (int c = 0; c < 2; c++) difference = Math.Max(difference, Math.Abs(probabilities[r, c] - expected[r][c]));
        }
        output.WriteLine($"{pooling}: max |onnx - torch| = {difference:E3} over {sequences.Count} rows of up to {width} tokens");
        Assert.True(difference < 1e-4, $"max |onnx - torch| = {difference:E3}");

        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("MLNet.MoE text classifier", metadata["mlnet_moe.format"]);
        Assert.Equal(pooling.ToString(), metadata["mlnet_moe.pooling"]);
        Assert.Equal(classifier.ClassNames, JsonSerializer.Deserialize<string[]>(metadata["mlnet_moe.class_names"]));
        Assert.Equal(options.MaxLength.ToString(System.Globalization.CultureInfo.InvariantCulture), metadata["mlnet_moe.max_length"]);
        Assert.True(File.Exists(Path.Combine(directory, "mlnet_moe_tokenizer.bin")));
        Assert.False(File.Exists(Path.Combine(directory, "genai_config.json")));
    }
}
