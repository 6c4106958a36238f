namespace MLNet.MoE;

/// <summary>
/// GPT-2's byte-to-character table used by byte-level BPE vocabularies: printable bytes stand for themselves,
/// the other 68 bytes map to U+0100..U+0143 in order. Used here only to validate vocabularies and to spot
/// tokens that are not byte-level symbols; the encoding itself is done by Microsoft.ML.Tokenizers.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>The character that stands for each byte value.</summary>
    public static IReadOnlyList<char> ByteToChar { get; } = BuildTable();

    /// <summary>Whether <paramref name="c"/> is the symbol of some byte.</summary>
    public static bool IsSymbol(char c) =>
        (c >= '!' && c <= '~') || (c >= '\u00A1' && c <= '\u00AC') || (c >= '\u00AE' && c <= '\u0143');

    /// <summary>Whether every character of <paramref name="token"/> is a byte symbol.</summary>
    public static bool IsSymbolString(string token)
    {
        foreach (char c in token)
        {
            if (!IsSymbol(c)) return false;
        }
        return token.Length > 0;
    }

    private static char[] BuildTable()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }
}
