
namespace MLNet.MoE.Tests.Tokenization;

public class ByteLevelTokenizerTests
{
    [Fact]
    public void Has257IdsWithEndOfTextLast()
    {
        MoeTokenizer tokenizer = MoeTokenizer.ByteLevel();
        Assert.Equal("byte-level", tokenizer.Name);
        Assert.Equal(257, tokenizer.VocabularySize);
        Assert.Equal(256, tokenizer.EndOfTextId);
        Assert.Equal("<|endoftext|>", tokenizer.EndOfTextToken);
    }

    [Fact]
    public void EncodesUtf8Bytes()
    {
        MoeTokenizer tokenizer = MoeTokenizer.ByteLevel();
        Assert.Equal([104, 195, 169], tokenizer.Encode("hé"));
        Assert.Empty(tokenizer.Encode(""));
    }

    [Fact]
    public void SpecialTokenTextStaysPlainText()
    {
        MoeTokenizer tokenizer = MoeTokenizer.ByteLevel();
        int[] ids = tokenizer.Encode("a<|endoftext|>b");
        Assert.DoesNotContain(256, ids);
        Assert.Equal(15, ids.Length);
        Assert.Equal("a<|endoftext|>b", tokenizer.Decode(ids));
    }

    [Fact]
    public void RoundTripsOrdinaryText()
    {
        MoeTokenizer tokenizer = MoeTokenizer.ByteLevel();
        foreach (string sample in TokenizerTestData.Samples)
        {
            Assert.Equal(sample, tokenizer.Decode(tokenizer.Encode(sample)));
        }
    }

    [Fact]
    public void DecodesEndOfTextAndReplacesInvalidUtf8()
    {
        MoeTokenizer tokenizer = MoeTokenizer.ByteLevel();
        Assert.Equal("a<|endoftext|>b", tokenizer.Decode([97, 256, 98]));
        Assert.Equal("a\uFFFDb", tokenizer.Decode([97, 0xC3, 98]));
        Assert.Equal("\uFFFD", tokenizer.Decode([0xFF]));
    }

    [Theory]
    [InlineData(257)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void RejectsIdsOutOfRange(int id)
    {
        MoeTokenizer tokenizer = MoeTokenizer.ByteLevel();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([65, id]));
        Assert.Contains(id.ToString(), ex.Message);
        Assert.False(tokenizer.HasToken(id));
    }

    [Fact]
    public void SerializesToItsKindAlone()
    {
        MoeTokenizer tokenizer = MoeTokenizer.ByteLevel();
        byte[] state = tokenizer.Serialize();
        Assert.True(state.Length < 32);
        MoeTokenizer copy = MoeTokenizer.Deserialize(state);
        Assert.Equal(tokenizer.Name, copy.Name);
        Assert.Equal(tokenizer.VocabularySize, copy.VocabularySize);
        Assert.Equal(tokenizer.Encode("héllo 😀"), copy.Encode("héllo 😀"));
    }

    [Fact]
    public void RejectsNullArguments()
    {
        MoeTokenizer tokenizer = MoeTokenizer.ByteLevel();
        Assert.Throws<ArgumentNullException>(() => tokenizer.Encode(null!));
        Assert.Throws<ArgumentNullException>(() => tokenizer.Decode(null!));
    }
}
