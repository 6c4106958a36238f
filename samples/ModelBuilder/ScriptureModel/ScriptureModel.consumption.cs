using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE.Samples.ModelBuilder;

/// <summary>
/// The scripture model: a Mixture-of-Experts language model trained on the King James Bible's first five books, one
/// verse a row. This part continues and scores text with a trained <c>ScriptureModel.mlnet</c>.
/// </summary>
public static partial class ScriptureModel
{
    /// <summary>The data's text column, as named in <c>ScriptureModel.mbconfig</c>.</summary>
    public const string TextColumnName = @"Text";

    /// <summary>One row of input: the text to score, which is also the prompt to continue.</summary>
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

    private static readonly object PredictEngineLock = new();
    private static string modelPath = Path.Combine(AppContext.BaseDirectory, "ScriptureModel.mlnet");
    private static Lazy<PredictionEngine<ModelInput, ModelOutput>> predictEngine = NewPredictEngine();

    /// <summary>
    /// The model file that <see cref="Predict"/> loads (default <c>ScriptureModel.mlnet</c> beside the program). Setting it
    /// makes the next prediction load that file.
    /// </summary>
    public static string MLNetModelPath
    {
        get { lock (PredictEngineLock) return modelPath; }
        set
        {
            ArgumentException.ThrowIfNullOrEmpty(value);
            lock (PredictEngineLock)
            {
                modelPath = Path.GetFullPath(value);
                ResetPredictEngine();
            }
        }
    }

    /// <summary>Continues and scores <paramref name="input"/>. Safe to call from several threads (calls are serialized).</summary>
    /// <exception cref="FileNotFoundException">The model file does not exist: train it first.</exception>
    public static ModelOutput Predict(ModelInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        lock (PredictEngineLock) return predictEngine.Value.Predict(input);
    }

    /// <summary>Forgets the loaded model, so that the next prediction loads <see cref="MLNetModelPath"/> again (after training, say).</summary>
    private static void ResetPredictEngine()
    {
        lock (PredictEngineLock)
        {
            if (predictEngine.IsValueCreated) predictEngine.Value.Dispose();
            predictEngine = NewPredictEngine();
        }
    }

    private static Lazy<PredictionEngine<ModelInput, ModelOutput>> NewPredictEngine() => new(CreatePredictEngine, LazyThreadSafetyMode.ExecutionAndPublication);

    private static PredictionEngine<ModelInput, ModelOutput> CreatePredictEngine()
    {
        string path = modelPath;
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist: train it first with ScriptureModel.Train(\"{path}\", ...).", path);
        var mlContext = new MLContext();
        ITransformer model = mlContext.Model.Load(path, out _);
        return mlContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model);
    }
}
