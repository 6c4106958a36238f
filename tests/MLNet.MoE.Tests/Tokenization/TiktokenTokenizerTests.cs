
namespace MLNet.MoE.Tests.Tokenization;

public class TiktokenTokenizerTests
{
    public static TheoryData<string> EncodingNames => new() { "gpt2", "cl100k_base", "o200k_base" };

    private static MoeTokenizer Shared(string name) => name switch
    {
        "gpt2" => TokenizerTestData.Gpt2,
        "cl100k_base" => TokenizerTestData.Cl100k,
        _ => TokenizerTestData.O200k,
    };

    [Fact]
    public void Gpt2EncodesHelloWorldToThePublishedIds()
    {
        // The GPT-2 ids of "Hello world" as published with GPT-2 / tiktoken.
        Assert.Equal([15496, 995], TokenizerTestData.Gpt2.Encode("Hello world"));
    }

    [Theory]
    [InlineData("gpt2", 50257, 50256)]
    [InlineData("cl100k_base", 100277, 100257)]
    [InlineData("o200k_base", 200019, 199999)]
    public void ReportsVocabularySizeAndEndOfText(string name, int vocabularySize, int endOfText)
    {
        MoeTokenizer tokenizer = Shared(name);
        Assert.Equal("tiktoken:" + name, tokenizer.Name);
        Assert.Equal(vocabularySize, tokenizer.VocabularySize);
        Assert.Equal(endOfText, tokenizer.EndOfTextId);
        Assert.Equal("<|endoftext|>", tokenizer.Decode([endOfText]));
    }

    [Fact]
    public void NamedFactoriesMatchTiktokenNames()
    {
        Assert.Equal("tiktoken:gpt2", TokenizerTestData.Gpt2.Name);
        Assert.Equal("tiktoken:cl100k_base", TokenizerTestData.Cl100k.Name);
        Assert.Equal("tiktoken:o200k_base", TokenizerTestData.O200k.Name);
        Assert.Equal(TokenizerTestData.Gpt2.Encode("Hello world"), MoeTokenizer.Tiktoken("GPT2").Encode("Hello world"));
    }

    [Theory]
    [MemberData(nameof(EncodingNames))]
    public void RoundTripsOrdinaryText(string name)
    {
        MoeTokenizer tokenizer = Shared(name);
        foreach (string sample in TokenizerTestData.Samples.Append(TokenizerTestData.KjvParagraph()))
        {
            int[] ids = tokenizer.Encode(sample);
            Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.VocabularySize - 1));
            Assert.Equal(sample, tokenizer.Decode(ids));
        }
    }

    [Theory]
    [InlineData("gpt2", 50256)]
    [InlineData("cl100k_base", 100256)]
    [InlineData("o200k_base", 199998)]
    public void SpecialTokenTextStaysPlainText(string name, int ordinaryTokens)
    {
        MoeTokenizer tokenizer = Shared(name);
        const string text = "end <|endoftext|> of <|endofprompt|><|fim_prefix|> text";
        int[] ids = tokenizer.Encode(text);
        Assert.DoesNotContain(tokenizer.EndOfTextId, ids);
        Assert.All(ids, id => Assert.InRange(id, 0, ordinaryTokens - 1));
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void Gpt2SpecialTextEncodesAsItsPieces()
    {
        MoeTokenizer tokenizer = TokenizerTestData.Gpt2;
        int[] pieces = [.. tokenizer.Encode("<|"), .. tokenizer.Encode("endoftext"), .. tokenizer.Encode("|>")];
        Assert.Equal(pieces, tokenizer.Encode("<|endoftext|>"));
    }

    [Theory]
    [InlineData("cl100k_base", 100256)]
    [InlineData("o200k_base", 199998)]
    public void RejectsGapIdsAndOutOfRangeIds(string name, int gap)
    {
        MoeTokenizer tokenizer = Shared(name);
        Assert.False(tokenizer.HasToken(gap));
        Assert.True(tokenizer.HasToken(gap - 1));
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([gap]));
        Assert.Contains(gap.ToString(), ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([tokenizer.VocabularySize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([-5]));
        Assert.NotEmpty(tokenizer.Decode([gap - 1]));
    }

    [Fact]
    public void DecodesSplitMultiByteCharactersToReplacementCharacters()
    {
        MoeTokenizer tokenizer = TokenizerTestData.Gpt2;
        int[] ids = tokenizer.Encode("😀");
        Assert.True(ids.Length > 1);
        Assert.Contains('\uFFFD', tokenizer.Decode(ids.Take(1)));
    }

    [Fact]
    public void UnknownEncodingNameListsTheValidNames()
    {
        var ex = Assert.Throws<ArgumentException>(() => MoeTokenizer.Tiktoken("p50k_edit"));
        Assert.Equal("encodingName", ex.ParamName);
        Assert.Contains("p50k_edit", ex.Message);
        foreach (string valid in MoeTokenizer.TiktokenEncodingNames) Assert.Contains(valid, ex.Message);
    }

    [Theory]
    [MemberData(nameof(EncodingNames))]
    public void SerializesOnlyTheEncodingName(string name)
    {
        MoeTokenizer tokenizer = Shared(name);
        byte[] state = tokenizer.Serialize();
        Assert.True(state.Length < 64);
        MoeTokenizer copy = MoeTokenizer.Deserialize(state);
        Assert.Equal(tokenizer.Name, copy.Name);
        Assert.Equal(tokenizer.VocabularySize, copy.VocabularySize);
        Assert.Equal(tokenizer.EndOfTextId, copy.EndOfTextId);
        string text = TokenizerTestData.KjvParagraph();
        Assert.Equal(tokenizer.Encode(text), copy.Encode(text));
    }
}
