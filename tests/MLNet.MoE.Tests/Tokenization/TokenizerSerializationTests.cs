
namespace MLNet.MoE.Tests.Tokenization;

public class TokenizerSerializationTests
{
    public static IEnumerable<object[]> States()
    {
        yield return ["byte-level", MoeTokenizer.ByteLevel().Serialize()];
        yield return ["tiktoken", TokenizerTestData.Gpt2.Serialize()];
        yield return ["hf", MoeTokenizer.FromHuggingFaceJson(TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory())).Serialize()];
    }

    [Fact]
    public void StartsWithMagicAndVersion()
    {
        byte[] state = MoeTokenizer.ByteLevel().Serialize();
        Assert.Equal("MOETOK"u8.ToArray(), state.Take(6).ToArray());
        Assert.Equal(1, BitConverter.ToInt32(state, 6));
    }

    [Theory]
    [MemberData(nameof(States))]
    public void TruncatedStateIsInvalidData(string kind, byte[] state)
    {
        Assert.NotNull(MoeTokenizer.Deserialize(state));
        foreach (int length in new[] { 0, 3, 6, 9, 10, 11, state.Length / 2, state.Length - 1 }.Where(l => l < state.Length).Distinct())
        {
            var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.Deserialize(state.Take(length).ToArray()));
            Assert.False(string.IsNullOrWhiteSpace(ex.Message), kind);
        }
    }

    [Theory]
    [MemberData(nameof(States))]
    public void TrailingBytesAreInvalidData(string kind, byte[] state)
    {
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.Deserialize([.. state, 0]));
        Assert.Contains("unexpected bytes", ex.Message + kind);
    }

    [Fact]
    public void ForeignDataAndOtherVersionsAreInvalidData()
    {
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.Deserialize("hello world, not a tokenizer"u8.ToArray()));
        Assert.Contains("MOETOK", ex.Message);

        byte[] state = MoeTokenizer.ByteLevel().Serialize();
        state[6] = 99;
        ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.Deserialize(state));
        Assert.Contains("version 99", ex.Message);

        state = MoeTokenizer.ByteLevel().Serialize();
        state[10] = 77;
        ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.Deserialize(state));
        Assert.Contains("kind", ex.Message);
    }

    [Fact]
    public void CorruptPayloadIsInvalidData()
    {
        byte[] state = TokenizerTestData.Gpt2.Serialize();
        int at = LastIndexOf(state, "gpt2"u8.ToArray());
        state[at] = (byte)'x';
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.Deserialize(state));
        Assert.Contains("xpt2", ex.Message);

        byte[] hf = MoeTokenizer.FromHuggingFaceJson(TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory())).Serialize();
        int model = IndexOf(hf, "\"model\""u8.ToArray(), from: 0);
        hf[model + 1] = (byte)'M';
        ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.Deserialize(hf));
        Assert.Contains("\"model\"", ex.Message);
    }

    [Fact]
    public void NullStateIsRejected()
    {
        Assert.Throws<ArgumentNullException>(() => MoeTokenizer.Deserialize(null!));
    }

    private static int LastIndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = haystack.Length - needle.Length; i >= 0; i--)
        {
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        }
        throw new InvalidOperationException("needle not found");
    }

    private static int IndexOf(byte[] haystack, byte[] needle, int from)
    {
        for (int i = from; i <= haystack.Length - needle.Length; i++)
        {
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        }
        throw new InvalidOperationException("needle not found");
    }
}
