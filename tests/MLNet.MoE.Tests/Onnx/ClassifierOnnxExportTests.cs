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
    private const double Tolerance = 1e-4;

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

    [Fact]
    public void WithTheWideBranchTheGraphAddsTheNgramLogitsAsTheTrainedClassifierDoesInFloat32AndFloat16()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(epochs: 1);
        options.MaxSteps = 12;
        options.NgramBuckets = new MoeTextClassificationOptions().NgramBuckets;
        var model = ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(64)));
        using var classifier = Classifier(model);
        int buckets = classifier.Model.NgramBuckets;
        Assert.Equal(options.NgramBuckets, buckets);
        string directory = TestPaths.NewTempDirectory();
        ml.MoE().ExportOnnx(classifier, directory);
        string halfDirectory = TestPaths.NewTempDirectory();
        ml.MoE().ExportOnnx(classifier, halfDirectory, new OnnxExportOptions { Weights = OnnxWeightType.Float16 });
        string int8Directory = TestPaths.NewTempDirectory();
        ml.MoE().ExportOnnx(classifier, int8Directory, new OnnxExportOptions { Weights = OnnxWeightType.Int8 });

        // Rows of different n-gram counts (so the shorter ones are padded) and an empty text, which has no n-grams.
        var texts = Reviews(200).Skip(150).Take(6).Select(r => r.Text).Append("").ToList();
        var sequences = texts.Select(t => classifier.Encode(t)).ToList();
        var ngrams = texts.Select(t => TextClassificationNgrams.Hash(t, null, buckets)).ToList();
        Assert.Empty(ngrams[^1]);
        float[] torchLogits = TorchLogits(classifier.Model, sequences, ngrams, classifier.Tokenizer.EndOfTextId);

        using var session = new InferenceSession(Path.Combine(directory, "model.onnx"));
        Assert.Equal(new[] { "input_ids", "attention_mask", "ngram_ids", "ngram_weights" }, session.InputMetadata.Keys);
        Assert.Equal(typeof(long), session.InputMetadata["ngram_ids"].ElementType);
        Assert.Equal(typeof(float), session.InputMetadata["ngram_weights"].ElementType);
        var (logits, probabilities) = Run(session, sequences, ngrams, classifier.Tokenizer.EndOfTextId, ngramWeightScale: 1f);
        double difference = MaxDifference(logits, torchLogits);
        // The same graph with every n-gram weight 0 scores the network alone: how much the branch moves the logits.
        var (networkOnly, _) = Run(session, sequences, ngrams, classifier.Tokenizer.EndOfTextId, ngramWeightScale: 0f);
        double branch = MaxDifference(networkOnly, torchLogits);
        output.WriteLine($"wide branch ({buckets:N0} buckets): max |onnx - torch| logit = {difference:E3}; the branch moves logits by up to {branch:E3}");
        Assert.True(difference < Tolerance, $"max logit |onnx - torch| = {difference:E3}");
        Assert.True(branch > 100 * Tolerance, $"the wide branch moves the logits by {branch:E3} only: the comparison does not test it");

        var expected = classifier.PredictProbabilities(texts);
        double probabilityDifference = probabilities.Select((p, i) => (double)Math.Abs(p - expected[i / 2][i % 2])).Max();
        Assert.True(probabilityDifference < Tolerance, $"max probability |onnx - torch| = {probabilityDifference:E3}");

        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("2", metadata["mlnet_moe.format_version"]);
        Assert.Equal(buckets.ToString(System.Globalization.CultureInfo.InvariantCulture), metadata["mlnet_moe.ngram_buckets"]);
        Assert.Equal(TextClassificationNgrams.HashVersion, metadata["mlnet_moe.ngram_hash_version"]);

        // The table is stored as the token embedding is: float32 in a float32 and an int8 export (quantization is for matrix
        // products), rounded in a float16 export, whose graph then computes on the rounded weights.
        var table = WideTable(directory);
        Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Float, table.DataType);
        Assert.Equal(new long[] { buckets, 2 }, table.Dims);
        Assert.Equal(table.RawData, WideTable(int8Directory).RawData);
        var halfTable = WideTable(halfDirectory);
        Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Float16, halfTable.DataType);
        Assert.Equal(new long[] { buckets, 2 }, halfTable.Dims);
        RoundMatrices(classifier.Model, TorchSharp.torch.ScalarType.Float16);
        float[] roundedLogits = TorchLogits(classifier.Model, sequences, ngrams, classifier.Tokenizer.EndOfTextId);
        using var halfSession = new InferenceSession(Path.Combine(halfDirectory, "model.onnx"));
        double halfDifference = MaxDifference(Run(halfSession, sequences, ngrams, classifier.Tokenizer.EndOfTextId, ngramWeightScale: 1f).Logits, roundedLogits);
        output.WriteLine($"float16: max |onnx - torch on the rounded weights| logit = {halfDifference:E3}");
        Assert.True(halfDifference < Tolerance, $"float16: max logit |onnx - torch| = {halfDifference:E3}");
    }

    /// <summary>
    /// ONNX Runtime's logits and probabilities (row-major) for right-padded rows: ids padded with end-of-text, n-gram ids
    /// with 0 and their weights 1/√(the row's n-grams) times <paramref name="ngramWeightScale"/>, padded with 0.
    /// </summary>
    private static (float[] Logits, float[] Probabilities) Run(InferenceSession session, List<int[]> sequences, List<int[]> ngrams, int padId, float ngramWeightScale)
    {
        int width = sequences.Max(s => s.Length), ngramWidth = ngrams.Max(n => n.Length);
        var ids = new long[sequences.Count * width];
        var mask = new long[sequences.Count * width];
        var ngramIds = new long[sequences.Count * ngramWidth];
        var ngramWeights = new float[sequences.Count * ngramWidth];
        for (int r = 0; r < sequences.Count; r++)
        {
            for (int t = 0; t < width; t++)
            {
                bool real = t < sequences[r].Length;
                ids[r * width + t] = real ? sequences[r][t] : padId;
                mask[r * width + t] = real ? 1 : 0;
            }
            for (int i = 0; i < ngrams[r].Length; i++)
            {
                ngramIds[r * ngramWidth + i] = ngrams[r][i];
                ngramWeights[r * ngramWidth + i] = ngramWeightScale / MathF.Sqrt(ngrams[r].Length);
            }
        }
        using var results = session.Run(new[]
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, new[] { sequences.Count, width })),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, new[] { sequences.Count, width })),
            NamedOnnxValue.CreateFromTensor("ngram_ids", new DenseTensor<long>(ngramIds, new[] { sequences.Count, ngramWidth })),
            NamedOnnxValue.CreateFromTensor("ngram_weights", new DenseTensor<float>(ngramWeights, new[] { sequences.Count, ngramWidth })),
        });
        return (results.Single(r => r.Name == "logits").AsTensor<float>().ToArray(), results.Single(r => r.Name == "probabilities").AsTensor<float>().ToArray());
    }

    /// <summary>The TorchSharp classifier's logits (row-major) for the same rows, its n-grams passed as training passes them.</summary>
    private static float[] TorchLogits(MoeTextClassifier model, List<int[]> sequences, List<int[]> ngrams, int padId)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var noGrad = TorchSharp.torch.no_grad();
        var (ids, lengths) = TextClassificationBatches.Pad(sequences, padId, model.Device);
        using var context = new ForwardContext();
        return model.Forward(ids, lengths, NgramBatch.Of(ngrams, model.Device), context).Logits.contiguous().data<float>().ToArray();
    }

    /// <summary>Rounds what a half-precision export stores rounded: every matrix but the routers'.</summary>
    private static void RoundMatrices(MoeTextClassifier model, TorchSharp.torch.ScalarType type)
    {
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (parameter.dim() < 2 || name.EndsWith(".gate.weight", StringComparison.Ordinal)) continue;
            parameter.copy_(parameter.to(type).to(TorchSharp.torch.ScalarType.Float32));
        }
    }

    /// <summary>The wide branch's table among the initializers of the export in <paramref name="directory"/>.</summary>
    private static global::Onnx.TensorProto WideTable(string directory) =>
        global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(directory, "model.onnx"))).Graph.Initializer.Single(t => t.Name.StartsWith("wide.weight", StringComparison.Ordinal));

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
}
