using Microsoft.ML;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>The classifier's wide branch of hashed word and character n-grams: features, training, saving, ONNX export, refusals.</summary>
public class WideBranchTests
{
    [Fact]
    public void NgramsAreTheLowerCasedWordsBigramsAndCharacterTrigramsHashedIntoTheBuckets()
    {
        // "Ab  cd": words ab, cd (2), one bigram, and the trigrams of " ab cd " (7 characters: 5 trigrams).
        int[] ids = TextClassificationNgrams.Hash("Ab  cd", null, 1 << 20);
        Assert.Equal(2 + 1 + 5, ids.Length);
        Assert.Equal(ids, TextClassificationNgrams.Hash("AB cd", null, 1 << 20));
        Assert.All(TextClassificationNgrams.Hash("Some longer text, with punctuation!", null, 17), id => Assert.InRange(id, 0, 16));
        Assert.Empty(TextClassificationNgrams.Hash("Ab cd", null, 0));
        // A second text has n-grams of its own: the pair is not the same bag as its texts concatenated.
        var pair = TextClassificationNgrams.Hash("ab", "cd", 1 << 20);
        var alone = TextClassificationNgrams.Hash("ab", null, 1 << 20).Concat(TextClassificationNgrams.Hash("cd", null, 1 << 20));
        Assert.NotEqual(alone.Order(), pair.Order());
    }

    [Fact]
    public void TheWideBranchAloneLearnsKeywordsBeyondMaxLengthAndSavesAndLoads()
    {
        // The class is one word at the end of a long row, past MaxLength tokens: only the wide branch can read it.
        var random = new Random(5);
        string filler = string.Join(' ', Enumerable.Repeat("the same words at the start of every row", 3));
        var rows = Enumerable.Range(0, 160).Select(i => new TextLabel { Text = $"{filler} {(i % 2 == 0 ? "excellent" : "terrible")} {random.Next(100)}", Label = i % 2 == 0 ? "good" : "bad" }).ToList();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows.Take(120));
        var options = Options(epochs: 4);
        options.NgramBuckets = 4096;
        options.ValidationFraction = 0;
        options.MaxLength = 16;
        var model = ClassifierPipeline(ml, options).Fit(data);
        using var classifier = Classifier(model);
        Assert.Equal(4096, classifier.Model.NgramBuckets);
        Assert.Equal(new long[] { 4096, 2 }, classifier.Model.state_dict()["wide.weight"].shape);
        var test = ml.Data.LoadFromEnumerable(rows.Skip(120));
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        Assert.Equal(1.0, metrics.MicroAccuracy);

        string path = Path.Combine(TestPaths.NewTempDirectory(), "classifier.zip");
        ml.Model.Save(model, data.Schema, path);
        using var reloaded = Classifier(ml.Model.Load(path, out _));
        Assert.Equal(4096, reloaded.Model.NgramBuckets);
        foreach (var row in rows.Skip(150)) Assert.Equal(classifier.PredictProbabilities(row.Text), reloaded.PredictProbabilities(row.Text));
        // A batch of texts scores as the texts one by one (padding and batching change nothing).
        var texts = rows.Skip(140).Select(r => r.Text).ToList();
        var batch = classifier.PredictProbabilities(texts, null, batchSize: 7);
        for (int i = 0; i < texts.Count; i++)
        {
            var one = classifier.PredictProbabilities(texts[i]);
            for (int c = 0; c < 2; c++) Assert.Equal(one[c], batch[i][c], 5);
        }

        // Token ids alone miss the n-grams: refused rather than scored without them.
        var refused = Assert.Throws<InvalidOperationException>(() => classifier.PredictProbabilities(new[] { classifier.Encode("excellent") }));
        Assert.Contains("n-grams", refused.Message);

        // Exported to ONNX, the branch still reads the keyword past MaxLength: the ONNX transformer predicts every row right too.
        string folder = TestPaths.NewTempDirectory();
        ml.MoE().ExportOnnx(classifier, folder);
        using var onnx = ml.MoeOnnx().LoadTextClassifier(folder);
        var keyMapping = ((IEnumerable<ITransformer>)model).First();
        Assert.Equal(1.0, ml.MulticlassClassification.Evaluate(keyMapping.Append(onnx).Transform(test)).MicroAccuracy);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(MoeTextClassificationOptions.MaxNgramBuckets + 1)]
    public void NgramBucketsOutOfRangeAreRefused(int buckets)
    {
        var options = Options();
        options.NgramBuckets = buckets;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate());
        Assert.Equal(nameof(MoeTextClassificationOptions.NgramBuckets), error.ParamName);
    }

    [Fact]
    public void ANgramLearningRateScaleOutOfRangeIsRefused()
    {
        var options = Options();
        options.NgramLearningRateScale = 0;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate());
        Assert.Equal(nameof(MoeTextClassificationOptions.NgramLearningRateScale), error.ParamName);
    }
}
