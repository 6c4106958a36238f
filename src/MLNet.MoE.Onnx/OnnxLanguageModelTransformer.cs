using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNet.MoE;

[assembly: LoadableClass(typeof(OnnxLanguageModelTransformer), null, typeof(SignatureLoadModel), "MoE ONNX Language Model", OnnxLanguageModelTransformer.LoaderSignature)]

namespace MLNet.MoE;

/// <summary>
/// An MLNet.MoE language model exported to ONNX, run by ONNX Runtime in an ML.NET pipeline. Its columns, scoring and
/// generation are those of <see cref="LanguageModelTransformerBase"/>, the same as the TorchSharp
/// <c>LanguageModelTransformer</c>'s. Saved in the model zip with the ONNX bytes and the tokenizer.
/// </summary>
public sealed class OnnxLanguageModelTransformer : LanguageModelTransformerBase
{
    internal const string LoaderSignature = "MLNetMoEOnnxLangModel";
    private const string ModelSignature = "MOEONNXL";
    private const uint Version = 0x00010001;

    internal OnnxLanguageModelTransformer(OnnxDecoder decoder, MoeTokenizer tokenizer, string tokenColumnName, string? promptColumnName,
        int? contextLength, GenerationOptions generation)
        : base(decoder, tokenizer, new LanguageModelHeader(tokenColumnName, promptColumnName, contextLength ?? decoder.ContextLength, generation))
    {
    }

    private OnnxDecoder Decoder => (OnnxDecoder)Runner;

    /// <summary>How the model's matrices are stored: float32, int8 or int4.</summary>
    public string WeightType => Decoder.Weights;

    private protected override void Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(ModelVersions.Create(typeof(OnnxLanguageModelTransformer), ModelSignature, Version, LoaderSignature));
        Header.Write(ctx);
        OnnxZipEntries.Write(ctx, Tokenizer, Decoder.ModelBytes);
    }

    private static OnnxLanguageModelTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(ModelVersions.Create(typeof(OnnxLanguageModelTransformer), ModelSignature, Version, LoaderSignature));
        ZipEntryIntegrity.Verify(ctx);
        var header = LanguageModelHeader.Read(ctx);
        var (tokenizer, onnx) = OnnxZipEntries.Read(ctx, "ONNX language model");
        var decoder = OnnxDecoder.FromBytes(onnx, OnnxZipEntries.OnnxSource);
        try
        {
            return new OnnxLanguageModelTransformer(decoder, tokenizer, header.TokenColumnName, header.PromptColumnName, header.ContextLength, header.Generation);
        }
        catch
        {
            decoder.Dispose();
            throw;
        }
    }
}
