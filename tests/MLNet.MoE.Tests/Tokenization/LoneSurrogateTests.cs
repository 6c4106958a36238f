
namespace MLNet.MoE.Tests.Tokenization;

/// <summary>
/// Text with a lone UTF-16 surrogate (not valid Unicode, but possible in a .NET string) is encoded as UTF-8 encodes it:
/// the surrogate becomes U+FFFD, the same in every tokenizer, and the rest of the text is kept.
/// </summary>
public class LoneSurrogateTests
{
    public static TheoryData<string> Tokenizers => new() { "byte-level", "gpt2", "cl100k", "bpe-files", "huggingface-json" };

    private static MoeTokenizer Create(string kind) => kind switch
    {
        "byte-level" => MoeTokenizer.ByteLevel(),
        "gpt2" => TokenizerTestData.Gpt2,
        "cl100k" => TokenizerTestData.Cl100k,
        "bpe-files" => TokenizerTestData.Gpt2Files,
        _ => MoeTokenizer.FromHuggingFaceJson(TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory())),
    };

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void ALoneSurrogateBecomesTheReplacementCharacter(string kind)
    {
        var tokenizer = Create(kind);
        foreach (string text in new[] { "a\uD800b", "end \uDC00", "\uDBFF start", "pair 😀 then \uD83D alone" })
        {
            string expected = string.Concat(text.Select((c, i) => char.IsSurrogate(c) && !IsPaired(text, i) ? '\uFFFD' : c));
            Assert.Equal(expected, tokenizer.Decode(tokenizer.Encode(text)));
        }
    }

    private static bool IsPaired(string text, int i) =>
        char.IsHighSurrogate(text[i]) ? i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) : i > 0 && char.IsHighSurrogate(text[i - 1]);
}
