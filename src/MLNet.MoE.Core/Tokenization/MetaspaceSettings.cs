namespace MLNet.MoE;

/// <summary>
/// The Hugging Face Metaspace pre-tokenizer: each space of a piece becomes <see cref="Replacement"/>, the replacement is
/// put in front of the piece (<see cref="Prepend"/>: always, only for the piece at the start of the input, or never)
/// unless it starts with one, and with <see cref="Split"/> the piece is cut before each replacement character
/// (MergedWithNext).
/// </summary>
/// <param name="Replacement">The character standing for a space, usually "▁" (U+2581).</param>
/// <param name="Prepend">When the replacement is put in front of a piece.</param>
/// <param name="Split">Whether the piece is cut into words before each replacement character.</param>
internal sealed record MetaspaceSettings(string Replacement, MetaspacePrepend Prepend, bool Split)
{
    /// <summary>The piece as the model sees it; <paramref name="atInputStart"/>: the piece begins the input.</summary>
    public string Apply(string piece, bool atInputStart)
    {
        string text = piece.Replace(" ", Replacement, StringComparison.Ordinal);
        bool prepend = Prepend switch
        {
            MetaspacePrepend.Always => true,
            MetaspacePrepend.First => atInputStart,
            _ => false,
        };
        return prepend && !text.StartsWith(Replacement, StringComparison.Ordinal) ? Replacement + text : text;
    }

    /// <summary>The words of <paramref name="text"/> (already through <see cref="Apply"/>): cut before each replacement when <see cref="Split"/>.</summary>
    public IEnumerable<string> Words(string text)
    {
        if (!Split)
        {
            yield return text;
            yield break;
        }
        if (text.Length == 0) yield break;
        int start = 0;
        int at = text.IndexOf(Replacement, 1, StringComparison.Ordinal);
        while (at > 0)
        {
            yield return text[start..at];
            start = at;
            at = text.IndexOf(Replacement, at + Replacement.Length, StringComparison.Ordinal);
        }
        if (start < text.Length) yield return text[start..];
    }
}

/// <summary>Metaspace's prepend_scheme.</summary>
internal enum MetaspacePrepend
{
    /// <summary>"always": every piece.</summary>
    Always,

    /// <summary>"first": only the piece at the very start of the input.</summary>
    First,

    /// <summary>"never".</summary>
    Never,
}
