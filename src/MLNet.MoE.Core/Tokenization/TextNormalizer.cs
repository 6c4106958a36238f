using System.Text;
using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// The Hugging Face normalizers of tokenizer.json files (NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, in
/// order) and the ByteLevel pre-tokenizer's add_prefix_space. Written by hand: Microsoft.ML.Tokenizers has no public
/// normalizer for these (its <c>SentencePieceNormalizationStep</c>, which models some of them, is internal).
/// </summary>
internal sealed class TextNormalizer : Normalizer
{
    private readonly IReadOnlyList<Func<string, string>> _steps;

    /// <summary>Applies <paramref name="steps"/> in order.</summary>
    public TextNormalizer(IReadOnlyList<Func<string, string>> steps) => _steps = steps;

    /// <summary>The step for a Unicode normalization form.</summary>
    public static Func<string, string> Form(NormalizationForm form) => s => s.Normalize(form);

    /// <summary>The Lowercase step.</summary>
    public static Func<string, string> Lowercase { get; } = s => s.ToLowerInvariant();

    /// <summary>HF Prepend: <paramref name="prefix"/> in front of any text that is not empty.</summary>
    public static Func<string, string> Prepend(string prefix) => s => s.Length == 0 ? s : prefix + s;

    /// <summary>HF Replace with a String pattern: every occurrence, left to right, without overlaps (ordinal).</summary>
    public static Func<string, string> ReplaceLiteral(string pattern, string content) => s => s.Replace(pattern, content, StringComparison.Ordinal);

    /// <summary>HF Replace with a Regex pattern (guarded by <see cref="PatternGuard"/>): every match, left to right, replaced by <paramref name="content"/> as it is; <paramref name="location"/> names the file and field when a match runs out of time.</summary>
    public static Func<string, string> ReplaceRegex(System.Text.RegularExpressions.Regex pattern, string content, string location)
    {
        string literal = content.Replace("$", "$$", StringComparison.Ordinal);
        return s =>
        {
            try
            {
                return pattern.Replace(s, literal);
            }
            catch (System.Text.RegularExpressions.RegexMatchTimeoutException ex)
            {
                throw new InvalidOperationException($"{location}: the pattern took more than {pattern.MatchTimeout.TotalSeconds:N1} s on a text of {s.Length:N0} characters; it backtracks badly on this text.", ex);
            }
        };
    }

    /// <summary>HF Strip: whitespace removed from the start and/or the end.</summary>
    public static Func<string, string> Strip(bool left, bool right) => s => left && right ? s.Trim() : left ? s.TrimStart() : right ? s.TrimEnd() : s;

    /// <summary>HF ByteLevel add_prefix_space: a space in front unless the text starts with one.</summary>
    public static Func<string, string> PrefixSpace { get; } = s => s.Length == 0 || s[0] == ' ' ? s : " " + s;

    /// <inheritdoc />
    public override string Normalize(string original)
    {
        string text = original ?? string.Empty;
        foreach (Func<string, string> step in _steps) text = step(text);
        return text;
    }

    /// <inheritdoc />
    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}
