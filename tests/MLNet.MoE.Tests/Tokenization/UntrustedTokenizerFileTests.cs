using System.Text;

namespace MLNet.MoE.Tests.Tokenization;

/// <summary>
/// Tokenizer files from other people: patterns that would hang encoding, ids out of range or shared, added tokens that
/// take another token's id, suffixes the vocabulary cannot honour and duplicate keys are refused at load, naming the
/// file and field.
/// </summary>
public class UntrustedTokenizerFileTests
{
    private static Dictionary<string, object> Model(Dictionary<string, object?> document) => (Dictionary<string, object>)document["model"]!;

    private static Dictionary<string, int> Vocabulary(Dictionary<string, object?> document) => (Dictionary<string, int>)Model(document)["vocab"];

    private static Exception LoadError(Action<Dictionary<string, object?>> edit)
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory(), edit);
        return Assert.ThrowsAny<Exception>(() => MoeTokenizer.FromHuggingFaceJson(path));
    }

    [Fact]
    public void ACatastrophicallyBacktrackingSplitPatternIsRefusedAtLoad()
    {
        var error = LoadError(d =>
        {
            var steps = (object[])((Dictionary<string, object>)d["pre_tokenizer"]!)["pretokenizers"];
            ((Dictionary<string, object>)((Dictionary<string, object>)steps[0])["pattern"])["Regex"] = "(a+)+$";
        });
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains("pre_tokenizer.pretokenizers[0].pattern.Regex", error.Message, StringComparison.Ordinal);
        Assert.Contains("backtracks", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheOrdinarySplitPatternStillLoadsAndEncodes()
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory());
        var tokenizer = MoeTokenizer.FromHuggingFaceJson(path);
        string text = new string('a', 5000) + "!";
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void AnIdBeyondTheLimitIsRefused()
    {
        var error = LoadError(d => Vocabulary(d)["hello"] = int.MaxValue);
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains("model.vocab.hello", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoTokensWithOneIdAreRefused()
    {
        var error = LoadError(d => Vocabulary(d)["hello"] = 5);
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains("id 5", error.Message, StringComparison.Ordinal);
        Assert.Contains("model.vocab", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAddedTokenTakingAnotherTokensIdIsRefused()
    {
        var error = LoadError(d => d["added_tokens"] = new[] { new Dictionary<string, object> { ["id"] = 97, ["content"] = "</s>", ["special"] = true } });
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains("'</s>'", error.Message, StringComparison.Ordinal);
        Assert.Contains("id 97", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEndOfWordSuffixMissingFromTheVocabularyIsRefused()
    {
        var error = LoadError(d => Model(d)["end_of_word_suffix"] = "</w>");
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains("end_of_word_suffix", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateKeysAreRefusedNamingTheFile()
    {
        string folder = TestPaths.NewTempDirectory();
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(folder);
        string json = File.ReadAllText(path);
        // The same key twice at the top level.
        File.WriteAllText(path, json.Replace("\"version\":\"1.0\"", "\"version\":\"1.0\",\"version\":\"2.0\"", StringComparison.Ordinal));
        var error = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("tokenizer.json", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateKeysInAModelConfigAreRefusedNamingTheFile()
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "config.json");
        File.WriteAllText(path, "{\"hidden_size\": 64, \"hidden_size\": 128}");
        var error = Assert.Throws<InvalidDataException>(() => MLNet.MoE.MoeModelConfig.Load(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidUtf8InAModelConfigIsRefusedNamingTheFile()
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "config.json");
        File.WriteAllBytes(path, [.. Encoding.ASCII.GetBytes("{\"model_type\": \"deepseek"), 0xFF, 0xFE, .. Encoding.ASCII.GetBytes("\"}")]);
        var error = Assert.Throws<InvalidDataException>(() => MLNet.MoE.MoeModelConfig.Load(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("UTF-8", error.Message, StringComparison.Ordinal);
    }
}
