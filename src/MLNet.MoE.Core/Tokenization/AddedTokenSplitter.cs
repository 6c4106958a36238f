namespace MLNet.MoE;

/// <summary>
/// Finds added tokens in text before pre-tokenization, as Hugging Face tokenizers does: the leftmost match, the longest
/// at that position, matches not overlapping; a single_word token touching a word character is passed over; lstrip and
/// rstrip widen a match over the whitespace beside it. Written by hand: Microsoft.ML.Tokenizers only knows plain special
/// tokens, without these flags.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;

    /// <summary>Matches <paramref name="tokens"/>.</summary>
    public AddedTokenSplitter(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ThenBy(t => t.Content, StringComparer.Ordinal).ToArray());
    }

    /// <summary>Whether there is no token to look for.</summary>
    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>
    /// <paramref name="text"/> cut into pieces covering it in order: each either an added token (its id) or text between
    /// tokens (id null, never empty).
    /// </summary>
    public List<(int Start, int Length, int? Id)> Split(string text)
    {
        var pieces = new List<(int Start, int Length, int? Id)>();
        int plainStart = 0;
        int position = 0;
        while (position < text.Length)
        {
            AddedToken? token = LongestAt(text, position);
            if (token is null)
            {
                position++;
                continue;
            }
            int start = position;
            int stop = position + token.Content.Length;
            position = stop;
            if (token.SingleWord && (IsWordBefore(text, start) || IsWordAfter(text, stop))) continue;
            if (token.LStrip)
            {
                while (start > plainStart && char.IsWhiteSpace(text[start - 1])) start--;
            }
            if (token.RStrip)
            {
                while (stop < text.Length && char.IsWhiteSpace(text[stop])) stop++;
                position = stop;
            }
            if (start > plainStart) pieces.Add((plainStart, start - plainStart, null));
            pieces.Add((start, stop - start, token.Id));
            plainStart = stop;
        }
        if (plainStart < text.Length) pieces.Add((plainStart, text.Length - plainStart, null));
        return pieces;
    }

    private AddedToken? LongestAt(string text, int position)
    {
        if (!_byFirstChar.TryGetValue(text[position], out AddedToken[]? candidates)) return null;
        foreach (AddedToken token in candidates)
        {
            if (position + token.Content.Length <= text.Length
                && string.CompareOrdinal(text, position, token.Content, 0, token.Content.Length) == 0) return token;
        }
        return null;
    }

    private static bool IsWordBefore(string text, int index)
    {
        if (index == 0) return false;
        int at = index - 1;
        if (char.IsLowSurrogate(text[at]) && at > 0 && char.IsHighSurrogate(text[at - 1])) at--;
        return IsWordCharacter(char.ConvertToUtf32(text, at));
    }

    private static bool IsWordAfter(string text, int index) => index < text.Length && IsWordCharacter(char.ConvertToUtf32(text, index));

    private static bool IsWordCharacter(int codePoint)
    {
        var category = System.Globalization.CharUnicodeInfo.GetUnicodeCategory(codePoint);
        return codePoint == '_' || category is System.Globalization.UnicodeCategory.UppercaseLetter or System.Globalization.UnicodeCategory.LowercaseLetter
            or System.Globalization.UnicodeCategory.TitlecaseLetter or System.Globalization.UnicodeCategory.ModifierLetter
            or System.Globalization.UnicodeCategory.OtherLetter or System.Globalization.UnicodeCategory.DecimalDigitNumber
            or System.Globalization.UnicodeCategory.LetterNumber or System.Globalization.UnicodeCategory.OtherNumber;
    }
}
