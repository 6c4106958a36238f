using Microsoft.ML;
using MLNet.MoE;

/// <summary>Turns a TorchSharp language-model zip into an ONNX-backed one, so the same model can be load-tested on ONNX Runtime.</summary>
internal static class OnnxModelZip
{
    /// <summary>Exports the zip's language model to ONNX in a temporary folder and returns the path of an ONNX-backed model.zip there.</summary>
    public static string FromLanguageModelZip(string modelPath)
    {
        var ml = new MLContext(seed: 1);
        var loaded = ml.Model.Load(modelPath, out var schema);
        var chain = loaded as IEnumerable<ITransformer> ?? new[] { loaded };
        var languageModel = chain.OfType<LanguageModelTransformer>().LastOrDefault()
            ?? throw new InvalidDataException($"--onnx: '{modelPath}' holds no language model to export.");
        string directory = Path.Combine(Path.GetTempPath(), "mlnet-moe-loadgen-onnx", Guid.NewGuid().ToString("N"));
        ml.MoE().ExportOnnx(languageModel, directory);
        string zip = Path.Combine(directory, "onnx-model.zip");
        using (var onnx = ml.MoeOnnx().LoadLanguageModel(directory, tokenColumnName: "Text", contextLength: languageModel.ContextLength))
        {
            ml.MoE().SaveModel(onnx, schema, zip);
        }
        (loaded as IDisposable)?.Dispose();
        Console.Error.WriteLine($"Serving the ONNX export of {modelPath}: {zip}");
        return zip;
    }
}
