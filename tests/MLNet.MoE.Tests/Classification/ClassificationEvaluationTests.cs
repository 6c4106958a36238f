using Microsoft.ML;
using Microsoft.ML.Data;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>The classifier's columns work with ML.NET's multiclass evaluation, cross-validation, PredictionEngine and model.zip.</summary>
public class ClassificationEvaluationTests : IClassFixture<TrainedClassifier>
{
    private readonly TrainedClassifier trained;

    public ClassificationEvaluationTests(TrainedClassifier trained) => this.trained = trained;

    [Fact]
    public void OutputColumnsHaveTheLabelsKeyTypeAndOneProbabilityPerClass()
    {
        var scored = trained.Model.Transform(trained.Test);
        var label = scored.Schema["Label"];
        var predicted = scored.Schema["PredictedLabel"];
        Assert.Equal(label.Type, predicted.Type);
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 2), scored.Schema["Score"].Type);
        VBuffer<bool> labelValues = default, predictedValues = default;
        label.GetKeyValues(ref labelValues);
        predicted.GetKeyValues(ref predictedValues);
        Assert.Equal(labelValues.DenseValues(), predictedValues.DenseValues());
        var rows = trained.Ml.Data.CreateEnumerable<Prediction>(scored, reuseRowObject: false).ToList();
        Assert.Equal(24, rows.Count);
        foreach (var row in rows)
        {
            Assert.Equal(1.0, row.Score.Sum(), 4);
            Assert.Equal((uint)Array.IndexOf(row.Score, row.Score.Max()) + 1, row.PredictedLabel);
        }
    }

    [Fact]
    public void EvaluateMeasuresTheAccuracyOfTheScoreColumn()
    {
        var scored = trained.Model.Transform(trained.Test);
        var metrics = trained.Ml.MulticlassClassification.Evaluate(scored);
        var labels = scored.GetColumn<uint>("Label").ToList();
        var scores = scored.GetColumn<float[]>("Score").ToList();
        double accuracy = labels.Zip(scores).Count(p => Array.IndexOf(p.Second, p.Second.Max()) + 1 == p.First) / (double)labels.Count;
        Assert.Equal(accuracy, metrics.MicroAccuracy, 10);
        double logLoss = -labels.Zip(scores).Average(p => Math.Log(p.Second[p.First - 1]));
        Assert.Equal(logLoss, metrics.LogLoss, 4);
    }

    [Fact]
    public void CrossValidateTrainsAndEvaluatesEveryFold()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Reviews(60));
        var options = Options(epochs: 1);
        var results = ml.MulticlassClassification.CrossValidate(data, ClassifierPipeline(ml, options), numberOfFolds: 2, seed: 1);
        Assert.Equal(2, results.Count);
        foreach (var fold in results)
        {
            Assert.InRange(fold.Metrics.MicroAccuracy, 0, 1);
            Assert.True(double.IsFinite(fold.Metrics.LogLoss));
            Classifier(fold.Model).Dispose();
        }
    }

    [Fact]
    public void ABinaryTaskIsATwoClassKeyAndMapKeyToValueGivesBackTheLabelValues()
    {
        var withValues = new TransformerChain<ITransformer>(trained.Model,
            trained.Ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(trained.Model.Transform(trained.Test)));
        var scored = withValues.Transform(trained.Test);
        Assert.Equal(BooleanDataViewType.Instance, scored.Schema["PredictedLabel"].Type);
        var keys = trained.Model.Transform(trained.Test).GetColumn<uint>("PredictedLabel").ToList();
        var values = scored.GetColumn<bool>("PredictedLabel").ToList();
        VBuffer<bool> keyValues = default;
        trained.Model.Transform(trained.Test).Schema["PredictedLabel"].GetKeyValues(ref keyValues);
        Assert.Equal(keys.Select(k => keyValues.GetItemOrDefault((int)k - 1)), values);
    }

    [Fact]
    public void SavedAndLoadedClassifierScoresIdenticallyInAPredictionEngine()
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "classifier.zip");
        trained.Ml.Model.Save(trained.Model, trained.Train.Schema, path);
        var ml = new MLContext(seed: 9);
        var loaded = ml.Model.Load(path, out _);
        try
        {
            var before = trained.Ml.Data.CreateEnumerable<Prediction>(trained.Model.Transform(trained.Test), reuseRowObject: false).ToList();
            var after = ml.Data.CreateEnumerable<Prediction>(loaded.Transform(trained.Test), reuseRowObject: false).ToList();
            Assert.Equal(before.Select(p => p.Score), after.Select(p => p.Score));
            Assert.Equal(before.Select(p => p.PredictedLabel), after.Select(p => p.PredictedLabel));
            VBuffer<bool> keyValues = default;
            loaded.Transform(trained.Test).Schema["PredictedLabel"].GetKeyValues(ref keyValues);
            Assert.Equal(new[] { false, true }, keyValues.DenseValues());

            // A PredictionEngine over unlabelled rows: the classifier does not read the label column.
            var engine = ml.Model.CreatePredictionEngine<ReviewText, Prediction>(Classifier(loaded));
            var rows = trained.Ml.Data.CreateEnumerable<Review>(trained.Test, reuseRowObject: false).ToList();
            for (int i = 0; i < 5; i++) Assert.Equal(before[i].Score, engine.Predict(new ReviewText { Text = rows[i].Text }).Score);
        }
        finally
        {
            Classifier(loaded).Dispose();
        }
    }

    [Fact]
    public void EncodeSaysWhenARowWasCutToTheMaximumLength()
    {
        var classifier = Classifier(trained.Model);
        int maxLength = classifier.MaxLength;
        string fits = new('a', maxLength - 2), tooLong = new('a', maxLength - 1);
        int[] kept = classifier.Encode(fits, null, out bool cut);
        Assert.False(cut);
        Assert.Equal(maxLength, kept.Length);
        int[] cutRow = classifier.Encode(tooLong, null, out cut);
        Assert.True(cut);
        Assert.Equal(maxLength, cutRow.Length);
        Assert.Equal(classifier.Tokenizer.EndOfTextId, cutRow[^1]);
        Assert.Equal(cutRow, classifier.Encode(tooLong));
    }

    [Fact]
    public void TwoTextColumnsAreReadTogetherAndBothAreNeededToScore()
    {
        var ml = new MLContext(seed: 1);
        var (model, data, pairs) = TrainedPairClassifier(ml);
        var classifier = Classifier(model);
        try
        {
            var scores = model.Transform(data).GetColumn<float[]>("Score").ToList();
            Assert.Equal(classifier.PredictProbabilities(pairs[0].Text, pairs[0].Other), scores[0]);
            Assert.NotEqual(classifier.PredictProbabilities("Fine.", "Great."), classifier.PredictProbabilities("Fine.", "Broken on arrival, awful."));
            var withoutSecond = ml.Data.LoadFromEnumerable(pairs.Select(p => new TextLabel { Text = p.Text, Label = "pos" }).ToList());
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => classifier.Transform(withoutSecond));
            Assert.Contains("'Other'", error.Message);
        }
        finally
        {
            classifier.Dispose();
        }
    }

    public sealed class ReviewText
    {
        public string Text { get; set; } = "";
    }
}
