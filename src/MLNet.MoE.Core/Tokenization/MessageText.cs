using System.Text;

namespace MLNet.MoE;

/// <summary>Text taken from a file or a parser for an error message: printable, and short.</summary>
internal static class MessageText
{
    /// <summary>
    /// <paramref name="text"/> with control characters, lone surrogates and replacement characters shown as '?', cut to
    /// <paramref name="maxLength"/> characters: a damaged file's bytes never reach a message or a log raw.
    /// </summary>
    public static string Printable(string text, int maxLength = 200)
    {
        var result = new StringBuilder(Math.Min(text.Length, maxLength) + 1);
        for (int i = 0; i < text.Length && result.Length < maxLength; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                result.Append(c).Append(text[++i]);
                continue;
            }
            result.Append(c is '\n' or '\r' or '\t' ? ' ' : char.IsControl(c) || char.IsSurrogate(c) || c == '\uFFFD' ? '?' : c);
        }
        if (result.Length < text.Length) result.Append('…');
        return result.ToString();
    }
}
