using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// The prediction engine behind a Model Builder-shaped model's static <c>Predict</c>: created from the model file at the
/// first prediction, shared by every thread (a <see cref="PredictionEngine{TSrc, TDst}"/> is not thread-safe, so calls
/// are serialized), and created again from the file after <see cref="ModelPath"/> changes or the file is written again.
/// </summary>
/// <typeparam name="TInput">The model's input row (<c>ModelInput</c>).</typeparam>
/// <typeparam name="TOutput">The model's output row (<c>ModelOutput</c>).</typeparam>
public sealed class SharedPredictionEngine<TInput, TOutput>
    where TInput : class
    where TOutput : class, new()
{
    private readonly object gate = new();
    private readonly string modelName;
    private string modelPath;
    private PredictionEngine<TInput, TOutput>? engine;

    /// <summary>An engine that will load <paramref name="modelPath"/> at the first prediction.</summary>
    /// <param name="modelPath">The <c>.mlnet</c> file.</param>
    /// <param name="modelName">The model's class, named in the message when the file does not exist (<c>train it first with X.Train</c>).</param>
    public SharedPredictionEngine(string modelPath, string modelName)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        ArgumentException.ThrowIfNullOrEmpty(modelName);
        this.modelPath = Path.GetFullPath(modelPath);
        this.modelName = modelName;
    }

    /// <summary>The model file, as a full path. Setting it makes the next prediction load that file.</summary>
    public string ModelPath
    {
        get { lock (gate) return modelPath; }
        set
        {
            ArgumentException.ThrowIfNullOrEmpty(value);
            lock (gate)
            {
                modelPath = Path.GetFullPath(value);
                Reset();
            }
        }
    }

    /// <summary>Predicts one row; safe to call from several threads (calls are serialized).</summary>
    /// <exception cref="FileNotFoundException">The model file does not exist: train it first.</exception>
    public TOutput Predict(TInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        lock (gate) return Engine().Predict(input);
    }

    /// <summary>Runs <paramref name="use"/> with the engine, alone: for what needs more than <see cref="Predict"/>, such as the output schema.</summary>
    /// <exception cref="FileNotFoundException">The model file does not exist: train it first.</exception>
    public TResult Use<TResult>(Func<PredictionEngine<TInput, TOutput>, TResult> use)
    {
        ArgumentNullException.ThrowIfNull(use);
        lock (gate) return use(Engine());
    }

    /// <summary>Tells the engine that a model was saved to <paramref name="savedModelPath"/>: when that is <see cref="ModelPath"/>, the next prediction loads it again.</summary>
    public void OnModelSaved(string savedModelPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(savedModelPath);
        lock (gate)
        {
            if (Path.GetFullPath(savedModelPath) == modelPath) Reset();
        }
    }

    /// <summary>Forgets the loaded model, so that the next prediction loads <see cref="ModelPath"/> again.</summary>
    public void Reset()
    {
        lock (gate)
        {
            engine?.Dispose();
            engine = null;
        }
    }

    private PredictionEngine<TInput, TOutput> Engine()
    {
        if (engine != null) return engine;
        string path = modelPath;
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file '{path}' does not exist: train it first with {modelName}.Train(\"{path}\", ...).", path);
        var mlContext = new MLContext();
        ITransformer model = mlContext.Model.Load(path, out _);
        engine = mlContext.Model.CreatePredictionEngine<TInput, TOutput>(model);
        return engine;
    }
}
