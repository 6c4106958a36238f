using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Onnx;

namespace MLNet.MoE;

/// <summary>
/// The SHA-256 of an ONNX model: its graph (nodes, attributes, inputs and outputs, opsets) and its weights (every
/// initializer's name and bytes, in graph order), with the metadata left out. Recorded in the export's metadata and
/// checked when the model is loaded, so that a byte altered in <c>model.onnx</c> or <c>model.onnx.data</c> is refused
/// instead of changing the scores (ONNX Runtime checks shapes, not values). An initializer moved to external data hashes
/// the same as when it was inline. Compiled into both assemblies from this file.
/// </summary>
internal static class OnnxWeightsDigest
{
    /// <summary>Hex SHA-256 of the initializers of <paramref name="proto"/>; external data is read from <paramref name="folder"/>.</summary>
    public static string Compute(ModelProto proto, string? folder)
    {
        using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // The model without metadata and initializers (a clone shares the immutable weight bytes, so it is cheap).
        var structure = proto.Clone();
        structure.MetadataProps.Clear();
        structure.Graph?.Initializer.Clear();
        digest.AppendData(Google.Protobuf.MessageExtensions.ToByteArray(structure));
        if (proto.Graph == null) return Convert.ToHexStringLower(digest.GetHashAndReset());
        var external = new Dictionary<string, FileStream>(StringComparer.Ordinal);
        try
        {
            foreach (var tensor in proto.Graph.Initializer)
            {
                digest.AppendData(Encoding.UTF8.GetBytes(tensor.Name));
                digest.AppendData([0]);
                if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
                    AppendExternal(digest, tensor, folder, external);
                else if (!tensor.RawData.IsEmpty)
                    digest.AppendData(tensor.RawData.Span);
                else
                    digest.AppendData(Google.Protobuf.MessageExtensions.ToByteArray(tensor));
            }
        }
        finally
        {
            foreach (var stream in external.Values) stream.Dispose();
        }
        return Convert.ToHexStringLower(digest.GetHashAndReset());
    }

    /// <summary>Throws <see cref="InvalidDataException"/> when the weights do not match <paramref name="recorded"/>.</summary>
    public static void Verify(ModelProto proto, string? folder, string recorded, string source)
    {
        string actual = Compute(proto, folder);
        if (!string.Equals(actual, recorded, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{source}: the graph or weights do not match the SHA-256 recorded at export ('{OnnxMetadataKeys.WeightsSha256}'): model.onnx or its external data was altered or damaged.");
    }

    private static void AppendExternal(IncrementalHash digest, TensorProto tensor, string? folder, Dictionary<string, FileStream> open)
    {
        string Entry(string key) => tensor.ExternalData.FirstOrDefault(e => e.Key == key)?.Value
            ?? throw new InvalidDataException($"Initializer '{tensor.Name}' stores its data outside the model without a '{key}'.");
        string location = Entry("location");
        if (folder == null) throw new InvalidDataException($"Initializer '{tensor.Name}' refers to external data '{location}', but the model was given as bytes.");
        if (Path.GetFileName(location) != location) throw new InvalidDataException($"Initializer '{tensor.Name}' refers to external data outside the model's folder ('{location}').");
        if (!long.TryParse(Entry("offset"), NumberStyles.None, CultureInfo.InvariantCulture, out long offset)
            || !long.TryParse(Entry("length"), NumberStyles.None, CultureInfo.InvariantCulture, out long length))
            throw new InvalidDataException($"Initializer '{tensor.Name}' has an invalid external data offset or length.");
        if (!open.TryGetValue(location, out var stream))
        {
            string path = Path.Combine(folder, location);
            if (!File.Exists(path)) throw new FileNotFoundException($"The external data file '{path}' of initializer '{tensor.Name}' does not exist.", path);
            open[location] = stream = File.OpenRead(path);
        }
        if (offset + length > stream.Length)
            throw new InvalidDataException($"Initializer '{tensor.Name}' reaches past the end of '{location}' ({offset + length} > {stream.Length} bytes): the file is truncated.");
        stream.Position = offset;
        byte[] buffer = new byte[1 << 20];
        for (long left = length; left > 0;)
        {
            int read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (read <= 0) throw new EndOfStreamException($"'{location}' ended inside initializer '{tensor.Name}'.");
            digest.AppendData(buffer, 0, read);
            left -= read;
        }
    }
}
