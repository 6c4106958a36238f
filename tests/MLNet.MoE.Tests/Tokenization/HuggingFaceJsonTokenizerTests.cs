using System.Text.Json;

namespace MLNet.MoE.Tests.Tokenization;

public class HuggingFaceJsonTokenizerTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Gpt2TokenizerJsonGivesTheSameIdsAsTiktokenGpt2(bool arrayMerges)
    {
        string path = TokenizerTestData.WriteGpt2HuggingFaceJson(TestPaths.NewTempDirectory(), arrayMerges);
        MoeTokenizer tokenizer = MoeTokenizer.FromHuggingFaceJson(path);
        Assert.Equal("hf:tokenizer.json", tokenizer.Name);
        Assert.Equal(50257, tokenizer.VocabularySize);
        Assert.Equal(50256, tokenizer.EndOfTextId);
        MoeTokenizer tiktoken = TokenizerTestData.Gpt2;
        foreach (string text in TokenizerTestData.Samples.Append(TokenizerTestData.KjvParagraph()).Append("x<|endoftext|>y"))
        {
            int[] ids = tokenizer.Encode(text);
            Assert.Equal(tiktoken.Encode(text), ids);
            Assert.Equal(text, tokenizer.Decode(ids));
        }
        Assert.Equal("<|endoftext|>", tokenizer.Decode([50256]));
    }

    [Fact]
    public void SmallTokenizerJsonAppliesSplitRegexArrayMergesAndAddedTokens()
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory());
        MoeTokenizer tokenizer = MoeTokenizer.FromHuggingFaceJson(path);
        Assert.Equal(302, tokenizer.VocabularySize);
        Assert.Equal(300, tokenizer.EndOfTextId);
        Assert.Equal("</s>", tokenizer.EndOfTextToken);

        // Merges: h+e=256, l+l=257, he+ll=258, hell+o=259, Ġ+w=260, Ġw+o=261. The Split regex isolates " ?\p{L}+" and
        // single digits, keeping the text between matches ("!" and "  ") as pieces of its own.
        // Single bytes keep their byte value as id here.
        Assert.Equal(new[] { 259, 261, 'r', 'l', 'd', '!', '4', '2', ' ' }, tokenizer.Encode("hello world!42 "));
        Assert.Equal("hello world!42 ", tokenizer.Decode(tokenizer.Encode("hello world!42 ")));

        int[] withSpecialText = tokenizer.Encode("hello</s><pad>");
        Assert.DoesNotContain(300, withSpecialText);
        Assert.DoesNotContain(301, withSpecialText);
        Assert.Equal("hello</s><pad>", tokenizer.Decode(withSpecialText));
        Assert.Equal("hello</s><pad>", tokenizer.Decode([259, 300, 301]));

        foreach (string sample in TokenizerTestData.Samples)
        {
            Assert.Equal(sample, tokenizer.Decode(tokenizer.Encode(sample)));
        }
        Assert.False(tokenizer.HasToken(299));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([299]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([302]));
    }

    [Fact]
    public void EndOfTextCanBeNamed()
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory());
        MoeTokenizer tokenizer = MoeTokenizer.FromHuggingFaceJson(path, "<pad>");
        Assert.Equal(301, tokenizer.EndOfTextId);
        MoeTokenizer copy = MoeTokenizer.Deserialize(tokenizer.Serialize());
        Assert.Equal(301, copy.EndOfTextId);
        var ex = Assert.Throws<ArgumentException>(() => MoeTokenizer.FromHuggingFaceJson(path, "<eot>"));
        Assert.Equal("endOfTextToken", ex.ParamName);
    }

    [Fact]
    public void NoEndOfTextTokenNamesTheOption()
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory(), d => d["added_tokens"] = Array.Empty<object>());
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("endOfTextToken", ex.Message);
        Assert.Contains("tokenizer.json", ex.Message);
    }

    [Fact]
    public void NormalizerAndPrefixSpaceAreApplied()
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory(), d =>
        {
            d["normalizer"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["normalizers"] = new object[] { new Dictionary<string, object> { ["type"] = "NFC" }, new Dictionary<string, object> { ["type"] = "Lowercase" } },
            };
            d["pre_tokenizer"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["use_regex"] = true };
        });
        MoeTokenizer tokenizer = MoeTokenizer.FromHuggingFaceJson(path);
        Assert.Equal(tokenizer.Encode(" wo"), tokenizer.Encode("WO"));
        Assert.Equal(new[] { 261 }, tokenizer.Encode("Wo"));
        Assert.Equal(tokenizer.Encode("\u00E9"), tokenizer.Encode("e\u0301"));
    }

    [Fact]
    public void SerializesTheFileContents()
    {
        string folder = TestPaths.NewTempDirectory();
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(folder);
        MoeTokenizer tokenizer = MoeTokenizer.FromHuggingFaceJson(path);
        byte[] state = tokenizer.Serialize();
        Directory.Delete(folder, recursive: true);
        MoeTokenizer copy = MoeTokenizer.Deserialize(state);
        Assert.Equal(tokenizer.Name, copy.Name);
        Assert.Equal(tokenizer.VocabularySize, copy.VocabularySize);
        Assert.Equal(tokenizer.EndOfTextId, copy.EndOfTextId);
        foreach (string sample in TokenizerTestData.Samples)
        {
            Assert.Equal(tokenizer.Encode(sample), copy.Encode(sample));
        }
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        string missing = Path.Combine(TestPaths.NewTempDirectory(), "tokenizer.json");
        var ex = Assert.Throws<FileNotFoundException>(() => MoeTokenizer.FromHuggingFaceJson(missing));
        Assert.Equal(missing, ex.FileName);
    }

    [Fact]
    public void MalformedJsonNamesTheFile()
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "broken.json");
        File.WriteAllText(path, "{ \"model\": { \"type\": \"BPE\", ");
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("broken.json", ex.Message);
    }

    [Fact]
    public void OtherModelTypesAreNotSupported()
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory(), d =>
            d["model"] = new Dictionary<string, object> { ["type"] = "WordPiece", ["vocab"] = new Dictionary<string, int> { ["a"] = 0 } });
        var ex = Assert.Throws<NotSupportedException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("tokenizer.json", ex.Message);
        Assert.Contains("model.type", ex.Message);
        Assert.Contains("WordPiece", ex.Message);
    }

    public static TheoryData<string, string> BrokenFields => new()
    {
        { "model", "\"model\"" },
        { "model.type", "\"model.type\"" },
        { "model.vocab", "\"model.vocab\"" },
        { "model.merges", "\"model.merges\"" },
        { "model.vocab.h", "\"model.vocab.h\"" },
        { "model.merges[0]", "\"model.merges[0]\"" },
        { "added_tokens[0].id", "\"added_tokens[0].id\"" },
        { "pre_tokenizer.pretokenizers[0].pattern.Regex", "\"pre_tokenizer.pretokenizers[0].pattern.Regex\"" },
    };

    [Theory]
    [MemberData(nameof(BrokenFields))]
    public void MissingOrMalformedFieldsNameTheField(string field, string expected)
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory(), d =>
        {
            var model = (Dictionary<string, object?>)d["model"]!;
            switch (field)
            {
                case "model": d.Remove("model"); break;
                case "model.type": model.Remove("type"); break;
                case "model.vocab": model.Remove("vocab"); break;
                case "model.merges": model["merges"] = "h e"; break;
                case "model.vocab.h": ((Dictionary<string, int>)model["vocab"]!).Remove("h"); model["vocab"] = WithStringId((Dictionary<string, int>)model["vocab"]!); break;
                case "model.merges[0]": model["merges"] = new object[] { 5 }; break;
                case "added_tokens[0].id": d["added_tokens"] = new[] { new Dictionary<string, object> { ["id"] = "x", ["content"] = "</s>" } }; break;
                default:
                    d["pre_tokenizer"] = new Dictionary<string, object>
                    {
                        ["type"] = "Sequence",
                        ["pretokenizers"] = new object[]
                        {
                            new Dictionary<string, object> { ["type"] = "Split", ["pattern"] = new Dictionary<string, object> { ["Regex"] = "(unclosed" }, ["behavior"] = "Isolated" },
                            new Dictionary<string, object> { ["type"] = "ByteLevel", ["use_regex"] = false },
                        },
                    };
                    break;
            }
        });
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("tokenizer.json", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void UnsupportedPreTokenizersAndNormalizersNameTheField()
    {
        string folder = TestPaths.NewTempDirectory();
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(folder, d =>
            d["pre_tokenizer"] = new Dictionary<string, object> { ["type"] = "Whitespace" });
        var ex = Assert.Throws<NotSupportedException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("\"pre_tokenizer.type\"", ex.Message);

        path = TokenizerTestData.WriteSmallHuggingFaceJson(folder, d =>
            d["pre_tokenizer"] = new Dictionary<string, object> { ["type"] = "Digits", ["individual_digits"] = true });
        ex = Assert.Throws<NotSupportedException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("ByteLevel", ex.Message);

        path = TokenizerTestData.WriteSmallHuggingFaceJson(folder, d =>
            d["normalizer"] = new Dictionary<string, object> { ["type"] = "BertNormalizer" });
        ex = Assert.Throws<NotSupportedException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("tokenizer.json", ex.Message);
        Assert.Contains("\"normalizer.type\"", ex.Message);
        Assert.Contains("BertNormalizer", ex.Message);
    }

    public static TheoryData<string, string> UnsupportedComponents => new()
    {
        // A decoder type that is not implemented, named with its field.
        { """{"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "WordPiece", "prefix": "##"}]}""", "\"decoder.decoders[1].type\" is \"WordPiece\"" },
        { """{"type": "CTC"}""", "\"decoder.type\" is \"CTC\"" },
    };

    [Theory]
    [MemberData(nameof(UnsupportedComponents))]
    public void UnsupportedDecodersNameTheTypeAndTheFile(string decoderJson, string expected)
    {
        string path = LlamaStyleCopy(json => json["decoder"] = System.Text.Json.Nodes.JsonNode.Parse(decoderJson));
        var ex = Assert.Throws<NotSupportedException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("llama-copy.json", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void MetaspaceInsideASequenceIsRefusedByName()
    {
        string path = LlamaStyleCopy(json => json["pre_tokenizer"] = System.Text.Json.Nodes.JsonNode.Parse(
            """{"type": "Sequence", "pretokenizers": [{"type": "Digits"}, {"type": "Metaspace", "replacement": "▁"}]}"""));
        var ex = Assert.Throws<NotSupportedException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("llama-copy.json", ex.Message);
        Assert.Contains("\"pre_tokenizer.pretokenizers[1].type\" is \"Metaspace\"", ex.Message);
    }

    [Fact]
    public void ByteLevelModelWithAnotherDecoderIsRefused()
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory(), d =>
            d["decoder"] = new Dictionary<string, object> { ["type"] = "Fuse" });
        var ex = Assert.Throws<NotSupportedException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("tokenizer.json", ex.Message);
        Assert.Contains("\"Fuse\"", ex.Message);
    }

    [Fact]
    public void CharacterModelWithoutByteFallbackOrUnknownTokenIsRefused()
    {
        string path = LlamaStyleCopy(json =>
        {
            json["model"]!["byte_fallback"] = false;
            json["model"]!["unk_token"] = null;
        });
        var ex = Assert.Throws<NotSupportedException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("llama-copy.json", ex.Message);
        Assert.Contains("byte_fallback", ex.Message);
        Assert.Contains("unk_token", ex.Message);
    }

    public static TheoryData<string, string, string> MalformedComponents => new()
    {
        { "normalizer", """{"type": "Replace", "content": "▁"}""", "\"normalizer.pattern\"" },
        { "normalizer", """{"type": "Replace", "pattern": {"String": ""}, "content": "▁"}""", "\"normalizer.pattern.String\"" },
        { "normalizer", """{"type": "Replace", "pattern": {"Regex": "(unclosed"}, "content": "▁"}""", "\"normalizer.pattern.Regex\"" },
        { "normalizer", """{"type": "Prepend"}""", "\"normalizer.prepend\"" },
        { "decoder", """{"type": "Strip", "content": "ab", "start": 1, "stop": 0}""", "\"decoder.content\"" },
        { "decoder", """{"type": "Strip", "content": " ", "start": -1, "stop": 0}""", "\"decoder.start\"" },
        { "pre_tokenizer", """{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "sometimes"}""", "\"pre_tokenizer.prepend_scheme\"" },
        { "pre_tokenizer", """{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "add_prefix_space": false}""", "\"pre_tokenizer.add_prefix_space\"" },
        { "model.unk_token", "\"<missing>\"", "\"model.unk_token\"" },
    };

    [Theory]
    [MemberData(nameof(MalformedComponents))]
    public void MalformedComponentsNameTheField(string field, string json, string expected)
    {
        string path = LlamaStyleCopy(document =>
        {
            if (field == "model.unk_token") document["model"]!["unk_token"] = System.Text.Json.Nodes.JsonNode.Parse(json);
            else document[field] = System.Text.Json.Nodes.JsonNode.Parse(json);
        });
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("llama-copy.json", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    /// <summary>A copy of the Llama-style test file, edited, as "llama-copy.json" in a new folder.</summary>
    private static string LlamaStyleCopy(Action<System.Text.Json.Nodes.JsonObject> edit)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(HuggingFaceParityData.Folder, "llama-style.tokenizer.json")))!.AsObject();
        edit(json);
        string path = Path.Combine(TestPaths.NewTempDirectory(), "llama-copy.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    private static Dictionary<string, object> WithStringId(Dictionary<string, int> vocab)
    {
        var result = vocab.ToDictionary(kv => kv.Key, kv => (object)kv.Value);
        result["h"] = "seven";
        return result;
    }
}
