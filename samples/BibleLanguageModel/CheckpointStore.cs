using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Catalog;
using MLNet.MoE.Pipeline;
using MLNet.MoE;

/// <summary>
/// Checkpoints of a run in one folder: <c>checkpoint-step-NNNNNN.zip</c> (an ordinary model.zip: tokenizer + model) and
/// <c>state.json</c> (steps done, loss history). The zip is written first and the state second, each atomically, so an
/// interruption at any point leaves the state naming a complete checkpoint.
/// </summary>
internal sealed class CheckpointStore
{
    private const string StateFile = "state.json";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public CheckpointStore(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
    }

    public string Directory { get; }

    /// <summary>The state of the last checkpoint, or null when there is none.</summary>
    public TrainingState? LoadState()
    {
        string path = Path.Combine(Directory, StateFile);
        if (!File.Exists(path)) return null;
        return JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(path), Json)
            ?? throw new InvalidDataException($"Checkpoint state '{path}' is empty: delete it or run with --fresh.");
    }

    /// <summary>The language model of the checkpoint at <paramref name="step"/>.</summary>
    public LanguageModelTransformer LoadModel(MLContext ml, int step)
    {
        string path = ModelPath(step);
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint '{path}', named by {StateFile}, is missing: run with --fresh.", path);
        ITransformer loaded = ml.Model.Load(path, out _);
        return ((IEnumerable<ITransformer>)loaded).OfType<LanguageModelTransformer>().Single();
    }

    /// <summary>Saves the model and then the state; keeps the previous checkpoint and deletes older ones.</summary>
    public void Save(MLContext ml, LanguageModelTransformer model, ITransformer tokenizer, DataViewSchema inputSchema, TrainingState state)
    {
        ml.MoE().SaveModel(new TransformerChain<ITransformer>(tokenizer, model), inputSchema, ModelPath(state.StepsDone));
        AtomicFile.WriteAllText(Path.Combine(Directory, StateFile), JsonSerializer.Serialize(state, Json));
        var keep = new HashSet<string> { ModelPath(state.StepsDone) };
        if (state.Validation.Count >= 2) keep.Add(ModelPath(state.Validation[^2].Step));
        foreach (string old in System.IO.Directory.GetFiles(Directory, "checkpoint-step-*.zip").Where(f => !keep.Contains(f)))
            File.Delete(old);
    }

    /// <summary>Deletes every checkpoint and the state.</summary>
    public void Clear()
    {
        foreach (string file in System.IO.Directory.GetFiles(Directory, "checkpoint-step-*.zip").Append(Path.Combine(Directory, StateFile)))
            File.Delete(file);
    }

    private string ModelPath(int step) => Path.Combine(Directory, "checkpoint-step-" + step.ToString("D6", CultureInfo.InvariantCulture) + ".zip");
}
