using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE;

namespace MLNet.MoE.Samples.ModelBuilder;

/// <summary>
/// The model: a Mixture-of-Experts text classifier (MLNet.MoE's <c>MoeTextClassification</c> trainer). This part
/// predicts with a trained <c>SentimentModel.mlnet</c>.
/// </summary>
public static partial class SentimentModel
{
    /// <summary>The data's text column, as named in <c>SentimentModel.mbconfig</c>.</summary>
    public const string TextColumnName = @"Text";

    /// <summary>The data's label column, as named in <c>SentimentModel.mbconfig</c>.</summary>
    public const string LabelColumnName = @"Label";

    /// <summary>
    /// One row of input: the columns the model reads. With a header line in the data they are found by name; without
    /// one, at the positions of <c>[LoadColumn]</c> (the <c>.mbconfig</c>'s <c>Index</c>).
    /// </summary>
    public sealed class ModelInput
    {
        /// <summary>The text to classify.</summary>
        [LoadColumn(0)]
        [ColumnName(TextColumnName)]
        public string Text { get; set; } = "";

        /// <summary>The class, as written in the data (not read when predicting).</summary>
        [LoadColumn(1)]
        [ColumnName(LabelColumnName)]
        public string Label { get; set; } = "";
    }

    /// <summary>What the model predicts for one row.</summary>
    public sealed class ModelOutput
    {
        /// <summary>The most probable class, as written in the data.</summary>
        [ColumnName(@"PredictedLabel")]
        public string PredictedLabel { get; set; } = "";

        /// <summary>Each class's probability, in the order of the model's labels (see <see cref="PredictAllLabels"/>).</summary>
        [ColumnName(@"Score")]
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    private static readonly SharedPredictionEngine<ModelInput, ModelOutput> PredictEngine =
        new(Path.Combine(AppContext.BaseDirectory, "SentimentModel.mlnet"), nameof(SentimentModel));

    /// <summary>
    /// The model file that <see cref="Predict"/> loads (default <c>SentimentModel.mlnet</c> beside the program). Setting it
    /// makes the next prediction load that file.
    /// </summary>
    public static string MLNetModelPath
    {
        get => PredictEngine.ModelPath;
        set => PredictEngine.ModelPath = value;
    }

    /// <summary>Predicts the class of <paramref name="input"/>. Safe to call from several threads (calls are serialized).</summary>
    /// <exception cref="FileNotFoundException">The model file does not exist: train it first.</exception>
    public static ModelOutput Predict(ModelInput input) => PredictEngine.Predict(input);

    /// <summary>Every class with its probability, the most probable first.</summary>
    /// <exception cref="FileNotFoundException">The model file does not exist: train it first.</exception>
    public static IOrderedEnumerable<KeyValuePair<string, float>> PredictAllLabels(ModelInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return PredictEngine.Use(engine => GetSortedScoresWithLabels(engine.Predict(input), engine.OutputSchema));
    }

    /// <summary>Pairs each score with its label (the score column's slot names) and orders them, the highest first.</summary>
    private static IOrderedEnumerable<KeyValuePair<string, float>> GetSortedScoresWithLabels(ModelOutput result, DataViewSchema outputSchema)
    {
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        outputSchema[@"Score"].GetSlotNames(ref slotNames);
        string[] labels = slotNames.DenseValues().Select(name => name.ToString()).ToArray();
        if (labels.Length != result.Score.Length)
            throw new InvalidOperationException($"The model's score column has {result.Score.Length} values but {labels.Length} label names.");
        return labels.Zip(result.Score, (label, score) => new KeyValuePair<string, float>(label, score)).ToList().OrderByDescending(pair => pair.Value);
    }
}
