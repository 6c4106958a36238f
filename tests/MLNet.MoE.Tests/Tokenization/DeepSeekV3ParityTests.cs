namespace MLNet.MoE.Tests.Tokenization;

/// <summary>The real DeepSeek-V3 tokenizer.json against the ids Hugging Face tokenizers gives for the probe texts.</summary>
public class DeepSeekV3ParityTests
{
    public static TheoryData<int> CaseIndexes() => new(Enumerable.Range(0, HuggingFaceParityData.Cases("deepseek-v3.tokenizer").Count));

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void SpecialTokensParsedGiveTheReferenceIds(int index)
    {
        HuggingFaceParityData.Case probe = HuggingFaceParityData.Cases("deepseek-v3.tokenizer")[index];
        Assert.Equal(probe.Ids, HuggingFaceParityData.DeepSeekV3.Encode(probe.Text, parseSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void SpecialTokensAsPlainTextGiveTheReferenceIdsWithoutSpecialTokens(int index)
    {
        HuggingFaceParityData.Case probe = HuggingFaceParityData.Cases("deepseek-v3.tokenizer")[index];
        Assert.Equal(probe.PlainIds, HuggingFaceParityData.DeepSeekV3.Encode(probe.Text));
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void DecodeGivesWhatTheReferenceDecodes(int index)
    {
        HuggingFaceParityData.Case probe = HuggingFaceParityData.Cases("deepseek-v3.tokenizer")[index];
        Assert.Equal(probe.Decoded, HuggingFaceParityData.DeepSeekV3.Decode(probe.Ids));
    }

    [Fact]
    public void ChatPromptSpecialTokensBecomeTheirIdsOnlyWhenAskedFor()
    {
        const string prompt = "<｜begin▁of▁sentence｜>Hi<｜end▁of▁sentence｜>";
        MoeTokenizer tokenizer = HuggingFaceParityData.DeepSeekV3;
        int[] parsed = tokenizer.Encode(prompt, parseSpecialTokens: true);
        Assert.Equal(0, parsed[0]);
        Assert.Equal(tokenizer.EndOfTextId, parsed[^1]);
        Assert.DoesNotContain(0, tokenizer.Encode(prompt));
        Assert.DoesNotContain(tokenizer.EndOfTextId, tokenizer.Encode(prompt));
    }
}
