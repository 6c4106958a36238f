using Microsoft.ML;
using Microsoft.ML.Data;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>Bad columns, bad options and edge-case labels and texts give clear errors or the documented behaviour.</summary>
public class ClassificationBadInputTests
{
    private static readonly string[] Texts = { "Great phone.", "Awful battery.", "Works well.", "Broke in a day.", "Love it.", "Waste of money.", "Fine.", "Bad." };

    private static IDataView Labelled(MLContext ml, params string[] labels) =>
        ml.Data.LoadFromEnumerable(Texts.Select((t, i) => new TextLabel { Text = t, Label = labels[i % labels.Length] }).ToList());

    [Fact]
    public void AMissingLabelColumnIsNamed()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Reviews(20));
        var options = Options();
        options.LabelColumnName = "Sentiment";
        var trainer = ml.MulticlassClassification.Trainers.MoeTextClassification(options);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(data));
        Assert.Contains("'Sentiment'", error.Message);
        Assert.Contains("not found", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.GetOutputSchema(SchemaChecks.ShapeOf(data.Schema)));
    }

    [Fact]
    public void ALabelThatIsNotAKeyIsRefusedWithTheFix()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Reviews(20));
        var trainer = ml.MulticlassClassification.Trainers.MoeTextClassification(Options());
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(data));
        Assert.Contains("'Label'", error.Message);
        Assert.Contains("MapValueToKey", error.Message);
        var shapeError = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.GetOutputSchema(SchemaChecks.ShapeOf(data.Schema)));
        Assert.Contains("MapValueToKey", shapeError.Message);
    }

    [Fact]
    public void AMissingOrNonTextTextColumnIsNamed()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(Labelled(ml, "a", "b")).Transform(Labelled(ml, "a", "b"));
        var options = Options();
        options.TextColumnName = "Body";
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.MoeTextClassification(options).Fit(data));
        Assert.Contains("'Body'", error.Message);
        options.TextColumnName = "Label";
        error = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.MoeTextClassification(options).Fit(data));
        Assert.Contains("must be of type Text", error.Message);
    }

    [Fact]
    public void ALabelOfASingleClassIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var oneValue = Labelled(ml, "pos");
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ClassifierPipeline(ml, Options()).Fit(oneValue));
        Assert.Contains("at least two classes", error.Message);

        // Two classes in the key type, but the training rows hold one of them only.
        var keyData = ml.Data.LoadFromEnumerable(new[] { new LabelOnly { Label = "pos" }, new LabelOnly { Label = "neg" } });
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", keyData: keyData).Append(ml.MulticlassClassification.Trainers.MoeTextClassification(Options()));
        var singleError = Assert.Throws<InvalidOperationException>(() => pipeline.Fit(oneValue));
        Assert.Contains("single class", singleError.Message);
    }

    [Fact]
    public void AClassWithoutTrainingRowsKeepsAnOutputAndGetsALowProbability()
    {
        var ml = new MLContext(seed: 1);
        var keyData = ml.Data.LoadFromEnumerable(new[] { "neg", "pos", "neutral" }.Select(l => new LabelOnly { Label = l }).ToList());
        var data = ml.Data.LoadFromEnumerable(Reviews(64).Select(r => new TextLabel { Text = r.Text, Label = r.Label ? "pos" : "neg" }).ToList());
        var options = Options(epochs: 3);
        options.ValidationFraction = 0;
        var model = ml.Transforms.Conversion.MapValueToKey("Label", keyData: keyData).Append(ml.MulticlassClassification.Trainers.MoeTextClassification(options)).Fit(data);
        try
        {
            var scores = model.Transform(data).GetColumn<float[]>("Score").ToList();
            Assert.All(scores, s => Assert.Equal(3, s.Length));
            double absent = scores.Average(s => s[2]);
            Assert.True(absent < 1.0 / 3, $"The class without rows has mean probability {absent}.");
            Assert.True(absent < scores.Average(s => Math.Max(s[0], s[1])));
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data));
            Assert.InRange(metrics.MicroAccuracy, 0, 1);
        }
        finally
        {
            Classifier(model).Dispose();
        }
    }

    [Fact]
    public void EmptyTextsTrainAndScoreToAProbabilityVector()
    {
        var ml = new MLContext(seed: 1);
        var rows = Reviews(40).Select(r => new TextLabel { Text = r.Text, Label = r.Label ? "pos" : "neg" }).ToList();
        rows[3].Text = "";
        rows[10].Text = "";
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = Options(epochs: 1);
        var model = ClassifierPipeline(ml, options).Fit(data);
        try
        {
            float[] empty = Classifier(model).PredictProbabilities("");
            Assert.Equal(2, empty.Length);
            Assert.Equal(1.0, empty.Sum(), 4);
            Assert.All(empty, p => Assert.True(float.IsFinite(p)));
        }
        finally
        {
            Classifier(model).Dispose();
        }
    }

    [Fact]
    public void RowsWithAMissingLabelAreSkipped()
    {
        var ml = new MLContext(seed: 1);
        var keyData = ml.Data.LoadFromEnumerable(new[] { "neg", "pos" }.Select(l => new LabelOnly { Label = l }).ToList());
        var rows = Reviews(40).Select(r => new TextLabel { Text = r.Text, Label = r.Label ? "pos" : "neg" }).ToList();
        rows[0].Label = "unknown";
        rows[1].Label = "unknown";
        var options = Options(epochs: 1);
        options.ValidationFraction = 0;
        var model = ml.Transforms.Conversion.MapValueToKey("Label", keyData: keyData).Append(ml.MulticlassClassification.Trainers.MoeTextClassification(options)).Fit(ml.Data.LoadFromEnumerable(rows));
        try
        {
            var summary = Classifier(model).TrainingSummary!;
            Assert.Equal(2, summary.SkippedRows);
            Assert.Equal(38, summary.TrainingRows);
        }
        finally
        {
            Classifier(model).Dispose();
        }
    }

    [Theory]
    [InlineData(nameof(MoeTextClassificationOptions.MaxLength))]
    [InlineData(nameof(MoeTextClassificationOptions.Dropout))]
    [InlineData(nameof(MoeTextClassificationOptions.ValidationFraction))]
    [InlineData(nameof(MoeTextClassificationOptions.LanguageModelPath))]
    [InlineData(nameof(MoeTextClassificationOptions.BackboneLearningRateScale))]
    [InlineData(nameof(MoeTextClassificationOptions.LanguageModelSteps))]
    public void OutOfRangeOptionsAreNamed(string option)
    {
        var ml = new MLContext(seed: 1);
        var options = Options();
        switch (option)
        {
            case nameof(MoeTextClassificationOptions.MaxLength): options.MaxLength = 3; break;
            case nameof(MoeTextClassificationOptions.Dropout): options.Dropout = 1; break;
            case nameof(MoeTextClassificationOptions.ValidationFraction): options.ValidationFraction = 0.9; break;
            case nameof(MoeTextClassificationOptions.BackboneLearningRateScale): options.BackboneLearningRateScale = 1.5; break;
            case nameof(MoeTextClassificationOptions.LanguageModelSteps): options.LanguageModelSteps = -1; break;
            default: options.LanguageModelPath = "lm.zip"; options.HuggingFaceCheckpointDirectory = "checkpoint"; break;
        }
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ClassifierPipeline(ml, options).Fit(Labelled(ml, "a", "b")));
        Assert.Equal(option, error.ParamName);
    }

    [Fact]
    public void AMaxLengthBeyondTheBackbonesPositionsIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var options = Options();
        options.InitialModel = LanguageModelTransformer.Over(new MLNet.MoE.MoeCausalLM(TinyConfig), MoeTokenizer.ByteLevel());
        options.MaxLength = TinyConfig.MaxPositionEmbeddings + 1;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ClassifierPipeline(ml, options).Fit(Labelled(ml, "a", "b")));
        Assert.Contains("max_position_embeddings", error.Message);
        options.InitialModel.Dispose();
    }
}
