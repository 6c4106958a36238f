using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>Keeps the text in one piece: a Hugging Face ByteLevel step with use_regex false. BpeTokenizer would otherwise substitute its default word splitter.</summary>
internal sealed class WholeTextPreTokenizer : PreTokenizer
{
    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        string.IsNullOrEmpty(text) ? [] : [(0, text.Length)];

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
        text.IsEmpty ? [] : [(0, text.Length)];
}
