using System.Text.Json;

namespace MLNet.MoE.Tests.Tokenization;

public class BpeFilesTokenizerTests
{
    [Fact]
    public void RealGpt2FilesGiveTheSameIdsAsTiktokenGpt2()
    {
        MoeTokenizer files = TokenizerTestData.Gpt2Files;
        MoeTokenizer tiktoken = TokenizerTestData.Gpt2;
        string kjv = TokenizerTestData.KjvParagraph();
        Assert.True(kjv.Length > 1000);
        foreach (string text in TokenizerTestData.Samples.Append(kjv).Append("a <|endoftext|> b"))
        {
            Assert.Equal(tiktoken.Encode(text), files.Encode(text));
        }
        Assert.Equal([15496, 995], files.Encode("Hello world"));
    }

    [Fact]
    public void ReportsNameSizeAndEndOfText()
    {
        MoeTokenizer tokenizer = TokenizerTestData.Gpt2Files;
        Assert.Equal("bpe", tokenizer.Name);
        Assert.Equal(50257, tokenizer.VocabularySize);
        Assert.Equal(50256, tokenizer.EndOfTextId);
        Assert.Equal("<|endoftext|>", tokenizer.EndOfTextToken);
        Assert.Equal("<|endoftext|>", tokenizer.Decode([50256]));
        Assert.DoesNotContain(50256, tokenizer.Encode("<|endoftext|>"));
    }

    [Fact]
    public void RoundTripsOrdinaryText()
    {
        MoeTokenizer tokenizer = TokenizerTestData.Gpt2Files;
        foreach (string sample in TokenizerTestData.Samples)
        {
            Assert.Equal(sample, tokenizer.Decode(tokenizer.Encode(sample)));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([50257]));
    }

    [Fact]
    public void SerializesTheFileContentsNotThePaths()
    {
        string folder = TestPaths.NewTempDirectory();
        string vocab = Path.Combine(folder, "vocab.json");
        string merges = Path.Combine(folder, "merges.txt");
        File.Copy(TokenizerTestData.Gpt2VocabJson, vocab);
        File.Copy(TokenizerTestData.Gpt2MergesTxt, merges);
        MoeTokenizer tokenizer = MoeTokenizer.FromBpeFiles(vocab, merges, "<|endoftext|>");
        byte[] state = tokenizer.Serialize();
        Directory.Delete(folder, recursive: true);

        MoeTokenizer copy = MoeTokenizer.Deserialize(state);
        string text = TokenizerTestData.KjvParagraph();
        Assert.Equal(tokenizer.Encode(text), copy.Encode(text));
        Assert.Equal(tokenizer.VocabularySize, copy.VocabularySize);
        Assert.Equal(tokenizer.EndOfTextId, copy.EndOfTextId);
        Assert.Equal("bpe", copy.Name);
    }

    [Fact]
    public void MissingFilesNameThePath()
    {
        string missing = Path.Combine(TestPaths.NewTempDirectory(), "nope.json");
        var ex = Assert.Throws<FileNotFoundException>(() => MoeTokenizer.FromBpeFiles(missing, TokenizerTestData.Gpt2MergesTxt));
        Assert.Equal(missing, ex.FileName);
        Assert.Contains(missing, ex.Message);
        ex = Assert.Throws<FileNotFoundException>(() => MoeTokenizer.FromBpeFiles(TokenizerTestData.Gpt2VocabJson, missing));
        Assert.Equal(missing, ex.FileName);
    }

    [Fact]
    public void MalformedVocabularyNamesTheFileAndKey()
    {
        (string folder, string merges) = SmallFiles();
        string vocab = Path.Combine(folder, "bad-vocab.json");

        File.WriteAllText(vocab, "{ \"a\": 1, ");
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromBpeFiles(vocab, merges));
        Assert.Contains("bad-vocab.json", ex.Message);

        File.WriteAllText(vocab, "{ \"a\": \"one\" }");
        ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromBpeFiles(vocab, merges));
        Assert.Contains("bad-vocab.json", ex.Message);
        Assert.Contains("\"a\"", ex.Message);

        File.WriteAllText(vocab, "[1, 2]");
        Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromBpeFiles(vocab, merges));
    }

    [Fact]
    public void VocabularyWithoutAllByteSymbolsIsRejected()
    {
        (string folder, string merges) = SmallFiles();
        var vocab = TokenizerTestData.ByteSymbolVocabulary();
        vocab.Remove("A");
        vocab["<|endoftext|>"] = 256;
        string path = Path.Combine(folder, "vocab.json");
        File.WriteAllText(path, JsonSerializer.Serialize(vocab));
        File.WriteAllText(merges, "");
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromBpeFiles(path, merges));
        Assert.Contains("vocab.json", ex.Message);
        Assert.Contains("0x41", ex.Message);
    }

    [Fact]
    public void MalformedMergesNameTheFileAndLine()
    {
        (string folder, string merges) = SmallFiles();
        string vocab = Path.Combine(folder, "vocab.json");

        File.WriteAllText(merges, "#version: 0.2\nh e\nthree parts here\n");
        var ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromBpeFiles(vocab, merges));
        Assert.Contains("merges.txt", ex.Message);
        Assert.Contains("line 3", ex.Message);

        File.WriteAllText(merges, "h e\nq z\n");
        ex = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromBpeFiles(vocab, merges));
        Assert.Contains("merges.txt", ex.Message);
        Assert.Contains("line 2", ex.Message);
        Assert.Contains("'qz'", ex.Message);
    }

    [Fact]
    public void EndOfTextMustExist()
    {
        (string folder, string merges) = SmallFiles();
        string vocab = Path.Combine(folder, "vocab.json");
        var ex = Assert.Throws<ArgumentException>(() => MoeTokenizer.FromBpeFiles(vocab, merges, "</s>"));
        Assert.Equal("endOfTextToken", ex.ParamName);

        var plain = TokenizerTestData.ByteSymbolVocabulary();
        plain["he"] = 256;
        File.WriteAllText(vocab, JsonSerializer.Serialize(plain));
        var missing = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromBpeFiles(vocab, merges));
        Assert.Contains("endOfTextToken", missing.Message);
    }

    [Fact]
    public void SmallFilesEncodeWithTheirMerges()
    {
        (string folder, string merges) = SmallFiles();
        MoeTokenizer tokenizer = MoeTokenizer.FromBpeFiles(Path.Combine(folder, "vocab.json"), merges);
        Assert.Equal(258, tokenizer.VocabularySize);
        Assert.Equal(257, tokenizer.EndOfTextId);
        Assert.Equal(new[] { 256, (int)'y' }, tokenizer.Encode("hey"));
        Assert.Equal("hey there", tokenizer.Decode(tokenizer.Encode("hey there")));
    }

    private static (string Folder, string Merges) SmallFiles()
    {
        string folder = TestPaths.NewTempDirectory();
        var vocab = TokenizerTestData.ByteSymbolVocabulary();
        vocab["he"] = 256;
        vocab["<|endoftext|>"] = 257;
        File.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(vocab));
        string merges = Path.Combine(folder, "merges.txt");
        File.WriteAllText(merges, "#version: 0.2\nh e\n");
        return (folder, merges);
    }
}
