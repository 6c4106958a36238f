namespace MLNet.MoE.Tokenization;

/// <summary>Temporary byte-level tokenizer.</summary>
public sealed class MoeTokenizer
{
    /// <summary>Byte-level.</summary>
    public static MoeTokenizer ByteLevel() => new();
    /// <summary>Name.</summary>
    public string Name => "byte-level";
    /// <summary>Vocab.</summary>
    public int VocabularySize => 257;
    /// <summary>EOT.</summary>
    public int EndOfTextId => 256;
    /// <summary>Encode.</summary>
    public int[] Encode(string text) => System.Text.Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
    /// <summary>Decode.</summary>
    public string Decode(IEnumerable<int> ids) => System.Text.Encoding.UTF8.GetString(ids.Where(i => i < 256).Select(i => (byte)i).ToArray());
    /// <summary>Serialize.</summary>
    public byte[] Serialize() => new byte[] { 1 };
    /// <summary>Deserialize.</summary>
    public static MoeTokenizer Deserialize(byte[] state) => new();
}
