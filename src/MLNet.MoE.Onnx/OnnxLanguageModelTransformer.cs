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
    private const string OnnxStream = "Model.onnx";
    private const string TokenizerStream = "Tokenizer.bin";

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
        byte[] onnx = Decoder.ModelBytes ?? throw new NotSupportedException(
            "This ONNX model keeps its weights in an external data file (over 2 GB) and cannot be stored inside a model zip; load it from its folder instead.");
        ctx.CheckAtModel();
        ctx.SetVersionInfo(ModelVersions.Create(typeof(OnnxLanguageModelTransformer), ModelSignature, Version, LoaderSignature));
        Header.Write(ctx);
        byte[] tokenizer = Tokenizer.Serialize();
        ctx.SaveBinaryStream(TokenizerStream, w =>
        {
            w.Write(tokenizer.Length);
            w.Write(tokenizer);
        });
        ctx.SaveBinaryStream(OnnxStream, w =>
        {
            w.Write(onnx.Length);
            w.Write(onnx);
        });
    }

    private static OnnxLanguageModelTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(ModelVersions.Create(typeof(OnnxLanguageModelTransformer), ModelSignature, Version, LoaderSignature));
        ZipEntryIntegrity.Verify(ctx);
        var header = LanguageModelHeader.Read(ctx);
        MoeTokenizer? tokenizer = null;
        byte[]? onnx = null;
        if (!ctx.TryLoadBinaryStream(TokenizerStream, r => tokenizer = MoeTokenizer.Deserialize(ModelStreams.ReadBlock(r, TokenizerStream))) || tokenizer == null)
            throw new InvalidDataException($"The ONNX language model has no '{TokenizerStream}' entry: the model file is incomplete.");
        if (!ctx.TryLoadBinaryStream(OnnxStream, r => onnx = ModelStreams.ReadBlock(r, OnnxStream)) || onnx == null)
            throw new InvalidDataException($"The ONNX language model has no '{OnnxStream}' entry: the model file is incomplete.");
        var decoder = OnnxDecoder.FromBytes(onnx, $"model zip entry '{OnnxStream}'");
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
