using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace MLNet.MoE;

/// <summary>
/// An ONNX model exported by MLNet.MoE, opened in ONNX Runtime: the session and the export's metadata, checked on open
/// (an ONNX file, of the expected kind — language model or text classifier —, of the format version this library reads,
/// and with the graph and weights whose SHA-256 the export recorded). Every refusal is an <see cref="InvalidDataException"/>
/// naming the file; the session is released when a check fails.
/// </summary>
internal sealed class OnnxModelFile : IDisposable
{
    private readonly IReadOnlyDictionary<string, string> metadata;

    private OnnxModelFile(InferenceSession session, byte[]? bytes, string? path, string source, string expectedFormat)
    {
        Session = session;
        Bytes = bytes;
        Source = source;
        metadata = session.ModelMetadata.CustomMetadataMap;
        try
        {
            CheckFormat(expectedFormat);
            if (metadata.TryGetValue(OnnxMetadataKeys.WeightsSha256, out string? recorded))
            {
                ModelProto proto;
                try
                {
                    proto = ModelProto.Parser.ParseFrom(bytes ?? File.ReadAllBytes(path!));
                }
                catch (Google.Protobuf.InvalidProtocolBufferException e)
                {
                    throw new InvalidDataException($"{source} is damaged: {MessageText.Printable(e.Message)}", e);
                }
                OnnxWeightsDigest.Verify(proto, path == null ? null : Path.GetDirectoryName(Path.GetFullPath(path)), recorded, source);
            }
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The ONNX Runtime session.</summary>
    public InferenceSession Session { get; }

    /// <summary>The model file's bytes (null when loaded from a path with external data).</summary>
    public byte[]? Bytes { get; }

    /// <summary>The file or zip entry, quoted, for messages.</summary>
    public string Source { get; }

    /// <summary>Opens a model from its bytes (self-contained, no external data).</summary>
    public static OnnxModelFile FromBytes(byte[] bytes, string source, string expectedFormat)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return new OnnxModelFile(CreateSession(() => new InferenceSession(bytes), source), bytes, null, source, expectedFormat);
    }

    /// <summary>Opens <c>model.onnx</c> from a path; external data beside it is found by ONNX Runtime.</summary>
    public static OnnxModelFile FromFile(string path, string expectedFormat)
    {
        string source = $"'{path}'";
        if (!File.Exists(path)) throw new FileNotFoundException($"The ONNX model {source} does not exist.", path);
        bool external = File.Exists(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, OnnxMetadataKeys.ExternalDataFileName));
        if (external) return new OnnxModelFile(CreateSession(() => new InferenceSession(path), source), null, path, source, expectedFormat);
        return FromBytes(File.ReadAllBytes(path), source, expectedFormat);
    }

    /// <summary>A metadata entry, or null when the export did not write it.</summary>
    public string? Optional(string key) => metadata.TryGetValue(key, out string? value) ? value : null;

    /// <summary>A positive integer metadata entry; <see cref="InvalidDataException"/> when it is missing or invalid.</summary>
    public int Positive(string key)
    {
        if (!metadata.TryGetValue(key, out string? text) || !int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value <= 0)
            throw new InvalidDataException($"{Source}: metadata entry '{key}' is missing or invalid.");
        return value;
    }

    /// <summary>Releases the session.</summary>
    public void Dispose() => Session.Dispose();

    private void CheckFormat(string expectedFormat)
    {
        if (!metadata.TryGetValue(OnnxMetadataKeys.Format, out string? format))
            throw new InvalidDataException($"{Source} is an ONNX model, but not one exported by MLNet.MoE (its metadata has no '{OnnxMetadataKeys.Format}' entry): export it with mlContext.MoE().ExportOnnx.");
        if (format != expectedFormat)
        {
            throw new InvalidDataException(format switch
            {
                OnnxMetadataKeys.ClassifierFormatName => $"{Source} is an MLNet.MoE text classifier, not a language model: load it with mlContext.MoeOnnx().LoadTextClassifier.",
                OnnxMetadataKeys.FormatName => $"{Source} is an MLNet.MoE language model, not a text classifier: load it with mlContext.MoeOnnx().LoadLanguageModel.",
                _ => $"{Source} is an MLNet.MoE export of an unknown kind ('{OnnxMetadataKeys.Format}' is '{MessageText.Printable(format)}'); this library reads '{expectedFormat}'.",
            });
        }
        // A text classifier with the wide branch of n-grams is written as version 2 (its graph has two more inputs).
        bool readable = metadata.TryGetValue(OnnxMetadataKeys.FormatVersion, out string? version)
            && (version == OnnxMetadataKeys.CurrentFormatVersion || (version == OnnxMetadataKeys.NgramFormatVersion && expectedFormat == OnnxMetadataKeys.ClassifierFormatName));
        if (!readable)
        {
            string readableVersions = expectedFormat == OnnxMetadataKeys.ClassifierFormatName
                ? $"versions {OnnxMetadataKeys.CurrentFormatVersion} and {OnnxMetadataKeys.NgramFormatVersion}" : $"version {OnnxMetadataKeys.CurrentFormatVersion}";
            throw new InvalidDataException($"{Source} was exported in MLNet.MoE ONNX format version '{MessageText.Printable(version ?? "")}'; this library reads {readableVersions}.");
        }
    }

    private static InferenceSession CreateSession(Func<InferenceSession> create, string source)
    {
        try
        {
            return create();
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"{source} is not a valid ONNX model, or it is truncated: {MessageText.Printable(e.Message)}", e);
        }
    }
}
