using System.Buffers.Binary;
using System.Text;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>Builds safetensors files byte by byte, so tests can make well-formed and malformed ones alike.</summary>
internal static class CraftedFiles
{
    /// <summary>Writes the 8-byte header length (the JSON's length unless overridden), the JSON and <paramref name="dataBytes"/> bytes of data.</summary>
    public static string Write(string directory, string fileName, string headerJson, int dataBytes, ulong? declaredHeaderLength = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        for (int i = 0; i < dataBytes; i++) bytes[8 + json.Length + i] = (byte)i;
        string path = Path.Combine(directory, fileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Writes raw bytes as a file.</summary>
    public static string WriteBytes(string directory, string fileName, byte[] bytes)
    {
        string path = Path.Combine(directory, fileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
