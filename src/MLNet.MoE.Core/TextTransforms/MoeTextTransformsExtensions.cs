using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNet.MoE;

namespace Microsoft.ML;

/// <summary>
/// The MLNet.MoE text transform on ML.NET's text catalog: <c>mlContext.Transforms.Text.TokenizeForMoe(...)</c>. It lives
/// in the TorchSharp-free MLNet.MoE.Core, so an app scoring an ONNX export with MLNet.MoE.Onnx alone tokenizes too.
/// </summary>
public static class MoeTextTransformsExtensions
{
    /// <summary>
    /// Tokenizes the text column <paramref name="inputColumnName"/> (default: <paramref name="outputColumnName"/>) into a
    /// vector of Int32 token ids in <paramref name="outputColumnName"/>, with <paramref name="tokenizer"/> (default: the
    /// byte-level tokenizer). The column carries the tokenizer as an annotation, which the trainers and language models
    /// read, and the fitted transformer saves it in the model zip.
    /// </summary>
    public static IEstimator<TokenizingTransformer> TokenizeForMoe(this TransformsCatalog.TextTransforms catalog, string outputColumnName, string? inputColumnName = null, MoeTokenizer? tokenizer = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        IHostEnvironment env = ((IInternalCatalog)catalog).Environment;
        return new TokenizingEstimator(env, outputColumnName, inputColumnName ?? outputColumnName, tokenizer ?? MoeTokenizer.ByteLevel());
    }
}
