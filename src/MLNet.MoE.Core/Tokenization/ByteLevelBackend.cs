using System.Text;

namespace MLNet.MoE;

/// <summary>
/// Ids 0..255 are the UTF-8 bytes of the text, id 256 is <c>&lt;|endoftext|&gt;</c>.
/// Written by hand: Microsoft.ML.Tokenizers has no raw byte tokenizer.
/// </summary>
internal sealed class ByteLevelBackend : TokenizerBackend
{
    /// <summary>The end-of-text token text.</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>The id of <see cref="EndOfText"/>.</summary>
    public const int EndOfTextIdValue = 256;

    private static readonly byte[] EndOfTextBytes = Encoding.UTF8.GetBytes(EndOfText);

    /// <summary>The single shared instance (the backend has no state).</summary>
    public static ByteLevelBackend Instance { get; } = new();

    private ByteLevelBackend()
    {
    }

    /// <inheritdoc />
    public override int VocabularySize => 257;

    /// <inheritdoc />
    public override int EndOfTextId => EndOfTextIdValue;

    /// <inheritdoc />
    public override string EndOfTextToken => EndOfText;

    /// <inheritdoc />
    public override int[] Encode(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        int[] ids = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            ids[i] = bytes[i];
        }
        return ids;
    }

    /// <inheritdoc />
    public override bool HasToken(int id) => id >= 0 && id <= EndOfTextIdValue;

    /// <inheritdoc />
    public override string DecodeChecked(IReadOnlyList<int> ids)
    {
        var bytes = new List<byte>(ids.Count);
        foreach (int id in ids)
        {
            if (id == EndOfTextIdValue)
            {
                bytes.AddRange(EndOfTextBytes);
            }
            else
            {
                bytes.Add((byte)id);
            }
        }
        // Encoding.UTF8 replaces invalid sequences with U+FFFD.
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
