using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Onnx;
using Xunit.Abstractions;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>
/// A text classifier exported to ONNX and loaded with <c>mlContext.MoeOnnx().LoadTextClassifier</c> scores in a pipeline
/// as the TorchSharp transformer does: the same probabilities (within 1e-4), predicted labels, key values and metrics.
/// </summary>
public class OnnxTextClassifierTests(ExportedReviewClassifier trained, ITestOutputHelper output) : IClassFixture<ExportedReviewClassifier>
{
    [Fact]
    public void InAPipelineTheOnnxClassifierGivesTheTorchSharpProbabilitiesLabelsAndMetrics()
    {
        var ml = trained.Ml;
        using var onnx = ml.MoeOnnx().LoadTextClassifier(trained.Directory);
        Assert.Equal(trained.Transformer.TextColumnName, onnx.TextColumnName);
        Assert.Null(onnx.SecondTextColumnName);
        Assert.Equal(trained.Transformer.MaxLength, onnx.MaxLength);
        Assert.Equal(trained.Transformer.ClassNames, onnx.ClassNames);
        Assert.Equal("float32", onnx.WeightType);

        IDataView torchScored = trained.Model.Transform(trained.Test);
        IDataView onnxScored = trained.KeyMapping.Append(onnx).Transform(trained.Test);

        var torchScores = torchScored.GetColumn<float[]>("Score").ToList();
        var onnxScores = onnxScored.GetColumn<float[]>("Score").ToList();
        Assert.Equal(trained.TestRows.Count, onnxScores.Count);
        double difference = torchScores.Zip(onnxScores, (t, o) => t.Zip(o, (a, b) => Math.Abs((double)a - b)).Max()).Max();
        var torchLabels = torchScored.GetColumn<uint>("PredictedLabel").ToList();
        var onnxLabels = onnxScored.GetColumn<uint>("PredictedLabel").ToList();
        var torchMetrics = ml.MulticlassClassification.Evaluate(torchScored);
        var onnxMetrics = ml.MulticlassClassification.Evaluate(onnxScored);
        output.WriteLine($"{onnxScores.Count} rows: max |onnx - torch| probability = {difference:E3}; micro accuracy {torchMetrics.MicroAccuracy:F4} / {onnxMetrics.MicroAccuracy:F4}, "
            + $"macro {torchMetrics.MacroAccuracy:F4} / {onnxMetrics.MacroAccuracy:F4}, log-loss {torchMetrics.LogLoss:F6} / {onnxMetrics.LogLoss:F6} (|difference| {Math.Abs(torchMetrics.LogLoss - onnxMetrics.LogLoss):E3})");
        Assert.True(difference < 1e-4, $"max |onnx - torch| probability = {difference:E3}");
        Assert.Equal(torchLabels, onnxLabels);
        Assert.Equal(torchMetrics.MicroAccuracy, onnxMetrics.MicroAccuracy);
        Assert.Equal(torchMetrics.MacroAccuracy, onnxMetrics.MacroAccuracy);
        Assert.True(Math.Abs(torchMetrics.LogLoss - onnxMetrics.LogLoss) < 1e-4, $"log-loss {torchMetrics.LogLoss} vs {onnxMetrics.LogLoss}");
        Assert.True(Math.Abs(torchMetrics.LogLossReduction - onnxMetrics.LogLossReduction) < 1e-4);
    }

    [Fact]
    public void TheOutputColumnsCarryTheLabelsKeyValuesOfTheirOwnTypeAndMapBack()
    {
        var ml = trained.Ml;
        using var onnx = ml.MoeOnnx().LoadTextClassifier(trained.Directory);
        var torchSchema = trained.Transformer.GetOutputSchema(trained.Test.Schema);
        var onnxSchema = onnx.GetOutputSchema(trained.Test.Schema);
        foreach (string name in new[] { "PredictedLabel", "Score" })
        {
            Assert.Equal(torchSchema[name].Type, onnxSchema[name].Type);
            Assert.Equal(torchSchema[name].Annotations.Schema.Select(c => (c.Name, c.Type)), onnxSchema[name].Annotations.Schema.Select(c => (c.Name, c.Type)));
        }
        VBuffer<bool> keyValues = default;
        onnxSchema["PredictedLabel"].GetKeyValues(ref keyValues);
        Assert.Equal(trained.Transformer.ClassNames, keyValues.DenseValues().Select(v => v.ToString()));
        VBuffer<ReadOnlyMemory<char>> slots = default;
        onnxSchema["Score"].GetSlotNames(ref slots);
        Assert.Equal(trained.Transformer.ClassNames, slots.DenseValues().Select(s => s.ToString()));

        var mapped = ml.Transforms.Conversion.MapKeyToValue("PredictedValue", "PredictedLabel").Fit(onnx.Transform(trained.Test)).Transform(onnx.Transform(trained.Test));
        var values = mapped.GetColumn<bool>("PredictedValue").ToList();
        var probabilities = onnx.PredictProbabilities(trained.TestRows.Select(r => onnx.Encode(r.Text)).ToList(), batchSize: 7);
        var classNames = onnx.ClassNames!;
        Assert.Equal(probabilities.Select(p => bool.Parse(classNames[p[1] > p[0] ? 1 : 0])), values);
    }

    [Fact]
    public void APredictionEngineOverTheOnnxClassifierPredictsAsTheTorchSharpOne()
    {
        var ml = trained.Ml;
        using var onnx = ml.MoeOnnx().LoadTextClassifier(trained.Directory);
        var engine = ml.Model.CreatePredictionEngine<Review, Prediction>(onnx);
        foreach (var row in trained.TestRows.Take(8).Append(new Review { Text = "" }))
        {
            var prediction = engine.Predict(row);
            float[] expected = trained.Transformer.PredictProbabilities(row.Text);
            Assert.Equal(expected.Length, prediction.Score.Length);
            for (int c = 0; c < expected.Length; c++) Assert.True(Math.Abs(expected[c] - prediction.Score[c]) < 1e-4, $"'{row.Text}' class {c}: {prediction.Score[c]} vs {expected[c]}");
            Assert.Equal((uint)(expected[1] > expected[0] ? 2 : 1), prediction.PredictedLabel);
        }
    }

    [Fact]
    public void SavedInAModelZipTheOnnxClassifierLoadsBackAndScoresTheSame()
    {
        var ml = trained.Ml;
        using var onnx = ml.MoeOnnx().LoadTextClassifier(trained.Directory, predictedLabelColumnName: "Predicted", scoreColumnName: "Probabilities");
        string zip = Path.Combine(TestPaths.NewTempDirectory(), "onnx-classifier.zip");
        ml.Model.Save(onnx, trained.Test.Schema, zip);
        // The zip alone is enough, in a new MLContext: it holds the ONNX bytes, the tokenizer and the key values.
        var loaded = new MLContext(seed: 1).Model.Load(zip, out _);
        try
        {
            var classifier = Assert.IsType<OnnxTextClassificationTransformer>(loaded);
            Assert.Equal("Predicted", classifier.PredictedLabelColumnName);
            Assert.Equal(onnx.ClassNames, classifier.ClassNames);
            Assert.Equal(onnx.Transform(trained.Test).GetColumn<float[]>("Probabilities"), loaded.Transform(trained.Test).GetColumn<float[]>("Probabilities"));
            Assert.Equal(onnx.Transform(trained.Test).GetColumn<uint>("Predicted"), loaded.Transform(trained.Test).GetColumn<uint>("Predicted"));
            VBuffer<bool> keyValues = default;
            loaded.GetOutputSchema(trained.Test.Schema)["Predicted"].GetKeyValues(ref keyValues);
            Assert.Equal(onnx.ClassNames, keyValues.DenseValues().Select(v => v.ToString()));
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void ALanguageModelIsRefusedAsAClassifierAndAClassifierAsALanguageModel()
    {
        var ml = new MLContext(seed: 1);
        var languageModel = TrainedModel.Instance;
        var notAClassifier = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadTextClassifier(languageModel.Directory));
        Assert.Contains(languageModel.ModelPath, notAClassifier.Message, StringComparison.Ordinal);
        Assert.Contains("language model, not a text classifier", notAClassifier.Message, StringComparison.Ordinal);
        Assert.Contains("LoadLanguageModel", notAClassifier.Message, StringComparison.Ordinal);

        string classifierModel = Path.Combine(trained.Directory, "model.onnx");
        var notALanguageModel = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadLanguageModel(classifierModel));
        Assert.Contains(classifierModel, notALanguageModel.Message, StringComparison.Ordinal);
        Assert.Contains("text classifier, not a language model", notALanguageModel.Message, StringComparison.Ordinal);
        Assert.Contains("LoadTextClassifier", notALanguageModel.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AReplacedOrDamagedTokenizerFileIsRefusedNamingIt()
    {
        var ml = new MLContext(seed: 1);
        string folder = CopyOfExport();
        string tokenizerPath = Path.Combine(folder, "mlnet_moe_tokenizer.bin");
        byte[] bytes = File.ReadAllBytes(tokenizerPath);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(tokenizerPath, bytes);
        var damaged = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadTextClassifier(folder));
        Assert.Contains(tokenizerPath, damaged.Message, StringComparison.Ordinal);
        Assert.Contains("mlnet_moe.tokenizer_sha256", damaged.Message, StringComparison.Ordinal);

        File.WriteAllBytes(tokenizerPath, MoeTokenizer.Gpt2().Serialize());
        var replaced = Assert.Throws<InvalidDataException>(() => ml.MoeOnnx().LoadTextClassifier(folder));
        Assert.Contains("is not the tokenizer this model was exported with", replaced.Message, StringComparison.Ordinal);

        // The tokenizer passed by the caller is used as given.
        using var given = ml.MoeOnnx().LoadTextClassifier(folder, trained.Transformer.Tokenizer);
        Assert.Equal(trained.Transformer.PredictProbabilities("Great phone."), given.PredictProbabilities("Great phone."));
    }

    [Fact]
    public void AnExportWithoutTheRecordedColumnsLoadsWhenTheTextColumnIsGiven()
    {
        var ml = new MLContext(seed: 1);
        string folder = CopyOfExport();
        string modelPath = Path.Combine(folder, "model.onnx");
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
        string[] newer = { "mlnet_moe.text_column", "mlnet_moe.predicted_label_column", "mlnet_moe.score_column", "mlnet_moe.class_names_type", "mlnet_moe.tokenizer_sha256" };
        foreach (var entry in proto.MetadataProps.Where(p => newer.Contains(p.Key)).ToList()) proto.MetadataProps.Remove(entry);
        File.WriteAllBytes(modelPath, proto.ToByteArray());

        var noColumn = Assert.Throws<ArgumentNullException>(() => ml.MoeOnnx().LoadTextClassifier(folder));
        Assert.Equal("textColumnName", noColumn.ParamName);
        Assert.Contains(modelPath, noColumn.Message, StringComparison.Ordinal);

        using var onnx = ml.MoeOnnx().LoadTextClassifier(folder, textColumnName: "Text");
        Assert.Equal("PredictedLabel", onnx.PredictedLabelColumnName);
        Assert.Equal(trained.Transformer.ClassNames, onnx.ClassNames);
        var scores = onnx.Transform(trained.Test).GetColumn<float[]>("Score").ToList();
        var expected = trained.Transformer.Transform(trained.Test).GetColumn<float[]>("Score").ToList();
        Assert.True(scores.Zip(expected, (a, b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max()).Max() < 1e-4);
    }

    [Fact]
    public void AClassifierOfTextPairsReadsBothRecordedColumnsAndOneOfSingleTextsRefusesASecond()
    {
        var ml = new MLContext(seed: 1);
        var (model, data, pairs) = TrainedPairClassifier(ml);
        using var classifier = Classifier(model);
        string folder = TestPaths.NewTempDirectory();
        ml.MoE().ExportOnnx(classifier, folder);

        using var onnx = ml.MoeOnnx().LoadTextClassifier(folder);
        Assert.Equal("Other", onnx.SecondTextColumnName);
        Assert.Equal(classifier.Encode(pairs[0].Text, pairs[0].Other), onnx.Encode(pairs[0].Text, pairs[0].Other));
        var expected = model.Transform(data).GetColumn<float[]>("Score").ToList();
        var scores = ((IEnumerable<ITransformer>)model).First().Append(onnx).Transform(data).GetColumn<float[]>("Score").ToList();
        double difference = scores.Zip(expected, (a, b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max()).Max();
        output.WriteLine($"text pairs: max |onnx - torch| probability = {difference:E3} over {scores.Count} rows");
        Assert.True(difference < 1e-4, $"max |onnx - torch| = {difference:E3}");
        var withoutSecond = ml.Data.LoadFromEnumerable(pairs.Select(p => new TextLabel { Text = p.Text, Label = "pos" }).ToList());
        Assert.Contains("'Other'", Assert.Throws<ArgumentOutOfRangeException>(() => onnx.Transform(withoutSecond)).Message, StringComparison.Ordinal);

        var single = Assert.Throws<ArgumentException>(() => ml.MoeOnnx().LoadTextClassifier(trained.Directory, secondTextColumnName: "Other"));
        Assert.Equal("secondTextColumnName", single.ParamName);
    }

    /// <summary>A copy of the export folder that a test may alter.</summary>
    private string CopyOfExport()
    {
        string folder = TestPaths.NewTempDirectory();
        foreach (string file in Directory.GetFiles(trained.Directory)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        return folder;
    }
}
