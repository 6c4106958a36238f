using Microsoft.ML;
using MLNet.MoE.Tests.Pipeline;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>One small model trained by the project's trainer on KJV verses and exported once, shared by the ONNX tests.</summary>
internal sealed class TrainedModel
{
    private static readonly Lazy<TrainedModel> Shared = new(() => new TrainedModel());

    private TrainedModel()
    {
        var ml = new MLContext(seed: 1);
        Data = ml.Data.LoadFromEnumerable(PipelineTestData.Verses(200));
        var chain = PipelineTestData.Train(ml, Data, PipelineTestData.Options(steps: 8));
        Transformer = chain.LastTransformer;
        Directory = TestPaths.NewTempDirectory();
        ml.MoE().ExportOnnx(Transformer, Directory);
    }

    public static TrainedModel Instance => Shared.Value;

    public IDataView Data { get; }

    public LanguageModelTransformer Transformer { get; }

    /// <summary>The export folder (model.onnx, genai_config.json, tokenizer).</summary>
    public string Directory { get; }

    public string ModelPath => Path.Combine(Directory, "model.onnx");
}
