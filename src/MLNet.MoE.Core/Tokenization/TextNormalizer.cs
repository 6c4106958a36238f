using System.Text;
using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// The Hugging Face normalizers that byte-level BPE files use (NFC, NFD, NFKC, NFKD, Lowercase, in order) and
/// the ByteLevel pre-tokenizer's add_prefix_space. Written by hand: Microsoft.ML.Tokenizers has no public
/// Unicode-normalization normalizer.
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
