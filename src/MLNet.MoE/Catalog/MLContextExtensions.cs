using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNet.MoE;

namespace Microsoft.ML;

/// <summary>Extension methods that add MLNet.MoE to <see cref="MLContext"/> and its catalogs.</summary>
public static class MLContextExtensions
{
    /// <summary>The MLNet.MoE catalog: trainers, evaluation and Hugging Face checkpoints.</summary>
    public static MoeCatalog MoE(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new MoeCatalog(mlContext);
    }
}
