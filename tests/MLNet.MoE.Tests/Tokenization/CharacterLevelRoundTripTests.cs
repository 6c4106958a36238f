using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE.Tests.Tokenization;

/// <summary>
/// A Llama- or Gemma-style tokenizer, once saved (its serialized state, the Hugging Face files written beside a model,
/// a model.zip), still encodes and decodes every probe text as Hugging Face tokenizers does: the normalizers,
/// pre-tokenizer, byte fallback and decoders travel with it.
/// </summary>
public class CharacterLevelRoundTripTests
{
    public static TheoryData<string> Files => new(SmallTokenizerFileParityTests.Files);

    [Theory]
    [MemberData(nameof(Files))]
    public void SerializedTokenizerKeepsTheReferenceIdsAndDecoding(string stem)
    {
        MoeTokenizer loaded = MoeTokenizer.Deserialize(HuggingFaceParityData.Load(stem).Serialize());
        AssertMatchesReference(stem, loaded);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void HuggingFaceFilesWrittenBesideAModelKeepTheReferenceIdsAndDecoding(string stem)
    {
        string folder = TestPaths.NewTempDirectory();
        TokenizerFiles.Save(folder, HuggingFaceParityData.Load(stem), modelMaxLength: 128);

        // The tokenizer.json written out is read back alone (without the serialized form beside it).
        string json = Path.Combine(folder, TokenizerFiles.HuggingFaceFileName);
        AssertMatchesReference(stem, MoeTokenizer.FromHuggingFaceJson(json));
        AssertMatchesReference(stem, TokenizerFiles.TryLoad(folder)!);

        using JsonDocument config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, TokenizerFiles.HuggingFaceConfigFileName)));
        string tokenizerClass = config.RootElement.GetProperty("tokenizer_class").GetString()!;
        Assert.Equal(stem.StartsWith("bytelevel", StringComparison.Ordinal) ? "GPT2Tokenizer" : "PreTrainedTokenizerFast", tokenizerClass);
    }

    [Fact]
    public void ModelZipKeepsTheLlamaStyleTokenizer()
    {
        const string stem = "llama-style.tokenizer";
        var ml = new MLContext(seed: 1);
        var rows = HuggingFaceParityData.Cases(stem).Select(c => new TextRow { Text = c.Text }).ToList();
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", HuggingFaceParityData.Load(stem)).Fit(data);
        string path = Path.Combine(TestPaths.NewTempDirectory(), "model.zip");
        ml.Model.Save(model, data.Schema, path);

        ITransformer loaded = new MLContext(seed: 2).Model.Load(path, out _);
        IDataView transformed = loaded.Transform(data);
        var ids = transformed.GetColumn<VBuffer<int>>("Tokens").Select(v => v.DenseValues().ToArray()).ToList();
        Assert.Equal(HuggingFaceParityData.Cases(stem).Select(c => c.PlainIds), ids);
        MoeTokenizer annotated = TokenizerAnnotation.TryGet(transformed.Schema["Tokens"])!;
        AssertMatchesReference(stem, annotated);
    }

    private static void AssertMatchesReference(string stem, MoeTokenizer tokenizer)
    {
        foreach (HuggingFaceParityData.Case probe in HuggingFaceParityData.Cases(stem))
        {
            Assert.Equal(probe.Ids, tokenizer.Encode(probe.Text, parseSpecialTokens: true));
            Assert.Equal(probe.PlainIds, tokenizer.Encode(probe.Text));
            Assert.Equal(probe.Decoded, tokenizer.Decode(probe.Ids));
        }
    }

    private sealed class TextRow
    {
        public string Text { get; set; } = "";
    }
}
