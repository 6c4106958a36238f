using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// The model-zip entries both ONNX transformers save beside their own settings: the tokenizer (<c>Tokenizer.bin</c>)
/// and the ONNX model's bytes (<c>Model.onnx</c>), each a length-prefixed block.
/// </summary>
internal static class OnnxZipEntries
{
    private const string OnnxStream = "Model.onnx";
    private const string TokenizerStream = "Tokenizer.bin";

    /// <summary>How the ONNX bytes are named in messages about a loaded zip.</summary>
    public const string OnnxSource = "model zip entry '" + OnnxStream + "'";

    /// <summary>Writes the tokenizer and the ONNX bytes; refuses a model whose weights live in an external file.</summary>
    public static void Write(ModelSaveContext ctx, MoeTokenizer tokenizer, byte[]? onnx)
    {
        if (onnx == null)
            throw new NotSupportedException("This ONNX model keeps its weights in an external data file (over 2 GB) and cannot be stored inside a model zip; load it from its folder instead.");
        byte[] tokenizerBytes = tokenizer.Serialize();
        ModelStreams.WriteBlock(ctx, TokenizerStream, tokenizerBytes);
        ModelStreams.WriteBlock(ctx, OnnxStream, onnx);
    }

    /// <summary>Reads the tokenizer and the ONNX bytes of <paramref name="what"/> ("ONNX language model", ...); a missing entry is refused naming it.</summary>
    public static (MoeTokenizer Tokenizer, byte[] Onnx) Read(ModelLoadContext ctx, string what)
    {
        MoeTokenizer? tokenizer = null;
        byte[]? onnx = null;
        if (!ctx.TryLoadBinaryStream(TokenizerStream, r => tokenizer = MoeTokenizer.Deserialize(ModelStreams.ReadBlock(r, TokenizerStream))) || tokenizer == null)
            throw new InvalidDataException($"The {what} has no '{TokenizerStream}' entry: the model file is incomplete.");
        if (!ctx.TryLoadBinaryStream(OnnxStream, r => onnx = ModelStreams.ReadBlock(r, OnnxStream)) || onnx == null)
            throw new InvalidDataException($"The {what} has no '{OnnxStream}' entry: the model file is incomplete.");
        return (tokenizer, onnx);
    }
}
