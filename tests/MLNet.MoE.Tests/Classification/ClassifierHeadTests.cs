using Microsoft.ML;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>The classification head's optional hidden layer: trained, saved and loaded with the classifier.</summary>
public class ClassifierHeadTests
{
    [Fact]
    public void AHiddenHeadLayerIsTrainedSavedAndLoaded()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(epochs: 1);
        options.MaxSteps = 6;
        options.HeadHiddenSize = 24;
        var data = ml.Data.LoadFromEnumerable(Reviews(64));
        var model = ClassifierPipeline(ml, options).Fit(data);
        using var classifier = Classifier(model);
        var state = classifier.Model.state_dict();
        Assert.Equal(new long[] { 24, TinyConfig.HiddenSize }, state["head_hidden.weight"].shape);
        Assert.Equal(new long[] { 2, 24 }, state["head.weight"].shape);
        Assert.Equal(24, classifier.Model.HeadHiddenSize);

        string path = Path.Combine(TestPaths.NewTempDirectory(), "classifier.zip");
        ml.Model.Save(model, data.Schema, path);
        var loaded = ml.Model.Load(path, out _);
        using var reloaded = Classifier(loaded);
        Assert.Equal(24, reloaded.Model.HeadHiddenSize);
        foreach (var text in Reviews(80).Skip(70).Select(r => r.Text))
            Assert.Equal(classifier.PredictProbabilities(text), reloaded.PredictProbabilities(text));
    }

    [Fact]
    public void AZipWrittenBeforeTheHiddenLayerExistedLoadsWithALinearHead()
    {
        string fixture = Path.Combine(TestPaths.RepositoryRoot, "tests", "MLNet.MoE.Tests", "Fixtures", "classifier-format-1");
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "expected.json")));
        var loaded = new MLContext(seed: 1).Model.Load(Path.Combine(fixture, "classifier.zip"), out _);
        using var classifier = Classifier(loaded);
        Assert.Equal(0, classifier.Model.HeadHiddenSize);
        foreach (var row in expected.RootElement.GetProperty("rows").EnumerateArray())
        {
            float[] then = row.GetProperty("probabilities").EnumerateArray().Select(p => float.Parse(p.GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            float[] now = classifier.PredictProbabilities(row.GetProperty("text").GetString()!);
            Assert.Equal(then.Length, now.Length);
            for (int c = 0; c < then.Length; c++) Assert.True(Math.Abs(then[c] - now[c]) < 1e-6, $"class {c}: {now[c]} now, {then[c]} when saved");
        }
    }

    [Fact]
    public void ANegativeHeadHiddenSizeIsRefused()
    {
        var options = Options();
        options.HeadHiddenSize = -1;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate());
        Assert.Equal(nameof(MoeTextClassificationOptions.HeadHiddenSize), error.ParamName);
    }
}
