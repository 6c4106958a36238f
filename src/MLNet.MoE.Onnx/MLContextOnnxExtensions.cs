using Microsoft.ML;
using MLNet.MoE;

namespace Microsoft.ML;

/// <summary>Extension methods that add MLNet.MoE's ONNX scoring to <see cref="MLContext"/>.</summary>
public static class MLContextOnnxExtensions
{
    /// <summary>The MLNet.MoE ONNX catalog: language models and text classifiers exported to ONNX, scored with ONNX Runtime (no TorchSharp).</summary>
    public static MoeOnnxCatalog MoeOnnx(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new MoeOnnxCatalog(mlContext);
    }
}
