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

    /// <summary>
    /// Tokenizes the text column <paramref name="inputColumnName"/> into a variable-length Int32 vector column
    /// <paramref name="outputColumnName"/> with <paramref name="tokenizer"/> (default: the byte-level tokenizer, which needs no files).
    /// </summary>
    public static IEstimator<TokenizingTransformer> TokenizeForMoe(this TransformsCatalog.TextTransforms catalog, string outputColumnName, string? inputColumnName = null, MoeTokenizer? tokenizer = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        IHostEnvironment env = ((IInternalCatalog)catalog).Environment;
        return new TokenizingEstimator(env, outputColumnName, inputColumnName ?? outputColumnName, tokenizer ?? MoeTokenizer.ByteLevel());
    }
}
