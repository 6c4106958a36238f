using Microsoft.ML.Data;
using MLNet.MoE;

namespace MLNet.MoE.Samples.ModelBuilder;

/// <summary>
/// The model: a Mixture-of-Experts language model (MLNet.MoE's <c>TokenizeForMoe</c> + <c>LanguageModel</c>), one
/// document a row. This part continues and scores text with a trained <c>ScriptureModel.mlnet</c>.
/// </summary>
public static partial class ScriptureModel
{
    /// <summary>The data's text column, as named in <c>ScriptureModel.mbconfig</c>.</summary>
    public const string TextColumnName = @"Text";

    /// <summary>
    /// One row of input: the text to score, which is also the prompt to continue. With a header line in the data the
    /// column is found by name; without one, at the position of <c>[LoadColumn]</c> (the <c>.mbconfig</c>'s <c>Index</c>).
    /// </summary>
    public sealed class ModelInput
    {
        /// <summary>The text.</summary>
        [LoadColumn(0)]
        [ColumnName(TextColumnName)]
        public string Text { get; set; } = "";
    }

    /// <summary>What the model gives for one row.</summary>
    public sealed class ModelOutput
    {
        /// <summary>The model's continuation of the text.</summary>
        [ColumnName(@"GeneratedText")]
        public string GeneratedText { get; set; } = "";

        /// <summary>The text's perplexity under the model: exp(<see cref="Score"/>).</summary>
        [ColumnName(@"Perplexity")]
        public float Perplexity { get; set; }

        /// <summary>The mean next-token cross-entropy of the text's tokens, in nats a token (lower: the model finds the text likelier).</summary>
        [ColumnName(@"Score")]
        public float Score { get; set; }
    }

    private static readonly SharedPredictionEngine<ModelInput, ModelOutput> PredictEngine =
        new(Path.Combine(AppContext.BaseDirectory, "ScriptureModel.mlnet"), nameof(ScriptureModel));

    /// <summary>
    /// The model file that <see cref="Predict"/> loads (default <c>ScriptureModel.mlnet</c> beside the program). Setting it
    /// makes the next prediction load that file.
    /// </summary>
    public static string MLNetModelPath
    {
        get => PredictEngine.ModelPath;
        set => PredictEngine.ModelPath = value;
    }

    /// <summary>Continues and scores <paramref name="input"/>. Safe to call from several threads (calls are serialized).</summary>
    /// <exception cref="FileNotFoundException">The model file does not exist: train it first.</exception>
    public static ModelOutput Predict(ModelInput input) => PredictEngine.Predict(input);
}
