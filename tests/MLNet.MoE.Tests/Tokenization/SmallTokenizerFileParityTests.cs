namespace MLNet.MoE.Tests.Tokenization;

/// <summary>
/// Small tokenizer.json files against the ids and texts Hugging Face tokenizers gives for the probe texts: Llama-2 style
/// (Prepend + Replace normalizers, byte_fallback, decoders Replace / ByteFallback / Fuse / Strip), Gemma style (Replace
/// normalizer, Split pre-tokenizer), Mistral style (Metaspace pre-tokenizer with prepend_scheme "first", Metaspace
/// decoder, ignore_merges), a model without byte fallback (unk_token with fuse_unk) and a byte-level model with
/// ignore_merges (Llama-3 style).
/// </summary>
public class SmallTokenizerFileParityTests
{
    public static readonly string[] Files =
        ["llama-style.tokenizer", "gemma-style.tokenizer", "metaspace-style.tokenizer", "unk-style.tokenizer", "bytelevel-ignore-merges.tokenizer"];

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (string stem in Files)
        {
            for (int i = 0; i < HuggingFaceParityData.Cases(stem).Count; i++) data.Add(stem, i);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SpecialTokensParsedGiveTheReferenceIds(string stem, int index)
    {
        HuggingFaceParityData.Case probe = HuggingFaceParityData.Cases(stem)[index];
        Assert.Equal(probe.Ids, HuggingFaceParityData.Load(stem).Encode(probe.Text, parseSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SpecialTokensAsPlainTextGiveTheReferenceIdsWithoutSpecialTokens(string stem, int index)
    {
        HuggingFaceParityData.Case probe = HuggingFaceParityData.Cases(stem)[index];
        Assert.Equal(probe.PlainIds, HuggingFaceParityData.Load(stem).Encode(probe.Text));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodeGivesWhatTheReferenceDecodes(string stem, int index)
    {
        HuggingFaceParityData.Case probe = HuggingFaceParityData.Cases(stem)[index];
        Assert.Equal(probe.Decoded, HuggingFaceParityData.Load(stem).Decode(probe.Ids));
    }
}
