using System.Text;
using System.Text.Json;

namespace MLNet.MoE.Tests.Tokenization;

/// <summary>Shared inputs for the tokenizer tests: sample texts, the real GPT-2 files, and writers for small test files.</summary>
internal static class TokenizerTestData
{
    /// <summary>Ordinary text of several scripts that every tokenizer must round-trip.</summary>
    public static readonly string[] Samples =
    [
        "Hello world",
        "The quick brown fox jumps over the lazy dog. 1234567890 !@#$%^&*()",
        "Crème brûlée, naïve façade, Ångström, Straße, Ελληνικά, русский текст",
        "Emoji: 😀🎉👍🏽 👨‍👩‍👧 and 🇫🇷",
        "中文文本，日本語のテキスト、한국어 텍스트",
        "  leading spaces, tabs\tand\r\nnew lines\n\n  trailing  ",
        "It's we'll they're I'M don't",
        "",
    ];

    /// <summary>The folder holding GPT-2's encoder.json (vocab.json) and vocab.bpe (merges.txt).</summary>
    public static string Gpt2Folder => Path.Combine(AppContext.BaseDirectory, "TestData", "gpt2-bpe");

    /// <summary>GPT-2's vocab.json.</summary>
    public static string Gpt2VocabJson => Path.Combine(Gpt2Folder, "encoder.json");

    /// <summary>GPT-2's merges.txt.</summary>
    public static string Gpt2MergesTxt => Path.Combine(Gpt2Folder, "vocab.bpe");

    /// <summary>The first 2000 characters of the King James Bible shipped in the repository.</summary>
    public static string KjvParagraph()
    {
        string text = File.ReadAllText(TestPaths.KjvVerses);
        return text.Substring(0, Math.Min(2000, text.Length));
    }

    private static readonly Lazy<MoeTokenizer> LazyGpt2 = new(MoeTokenizer.Gpt2);
    private static readonly Lazy<MoeTokenizer> LazyCl100k = new(MoeTokenizer.Cl100kBase);
    private static readonly Lazy<MoeTokenizer> LazyO200k = new(MoeTokenizer.O200kBase);
    private static readonly Lazy<MoeTokenizer> LazyGpt2Files = new(() => MoeTokenizer.FromBpeFiles(Gpt2VocabJson, Gpt2MergesTxt));

    /// <summary>One shared tiktoken gpt2 tokenizer (loading takes a moment).</summary>
    public static MoeTokenizer Gpt2 => LazyGpt2.Value;

    /// <summary>One shared cl100k_base tokenizer.</summary>
    public static MoeTokenizer Cl100k => LazyCl100k.Value;

    /// <summary>One shared o200k_base tokenizer.</summary>
    public static MoeTokenizer O200k => LazyO200k.Value;

    /// <summary>One shared tokenizer from GPT-2's vocab.json + merges.txt.</summary>
    public static MoeTokenizer Gpt2Files => LazyGpt2Files.Value;

    /// <summary>Writes a Hugging Face tokenizer.json built from GPT-2's vocab.json and merges.txt, as HF's own GPT-2 file is laid out.</summary>
    public static string WriteGpt2HuggingFaceJson(string folder, bool arrayMerges)
    {
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllBytes(Gpt2VocabJson))!;
        var merges = File.ReadAllLines(Gpt2MergesTxt, Encoding.UTF8)
            .Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal))
            .ToList();
        object mergesJson = arrayMerges ? merges.Select(m => m.Split(' ')).ToList() : merges;
        var document = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new[]
            {
                new Dictionary<string, object> { ["id"] = 50256, ["content"] = "<|endoftext|>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = true, ["special"] = true },
            },
            ["normalizer"] = null,
            ["pre_tokenizer"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "",
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["vocab"] = vocab,
                ["merges"] = mergesJson,
            },
        };
        string path = Path.Combine(folder, "tokenizer.json");
        File.WriteAllText(path, JsonSerializer.Serialize(document));
        return path;
    }

    /// <summary>The 256 byte-level symbols mapped to ids 0..255 (in byte order), as a JSON object body.</summary>
    public static Dictionary<string, int> ByteSymbolVocabulary()
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++) vocab[ByteLevelAlphabet.ByteToChar[b].ToString()] = b;
        return vocab;
    }

    /// <summary>Writes a small hand-made tokenizer.json: 256 byte symbols, a few array-form merges, a Split regex then ByteLevel(use_regex false), and "&lt;/s&gt;" as id 300.</summary>
    public static string WriteSmallHuggingFaceJson(string folder, Action<Dictionary<string, object?>>? edit = null)
    {
        var vocab = ByteSymbolVocabulary();
        // "Ġ" is the symbol of the space byte.
        string[][] merges = [["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"], ["Ġ", "w"], ["Ġw", "o"]];
        int next = 256;
        foreach (string[] m in merges) vocab[m[0] + m[1]] = next++;
        var document = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = new[]
            {
                new Dictionary<string, object> { ["id"] = 300, ["content"] = "</s>", ["special"] = true },
                new Dictionary<string, object> { ["id"] = 301, ["content"] = "<pad>", ["special"] = true },
            },
            ["normalizer"] = null,
            ["pre_tokenizer"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new object[]
                {
                    new Dictionary<string, object>
                    {
                        ["type"] = "Split",
                        ["pattern"] = new Dictionary<string, object> { ["Regex"] = @" ?\p{L}+|\p{N}" },
                        ["behavior"] = "Isolated",
                        ["invert"] = false,
                    },
                    new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false },
                },
            },
            ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel" },
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["vocab"] = vocab,
                ["merges"] = merges,
            },
        };
        edit?.Invoke(document);
        string path = Path.Combine(folder, "tokenizer.json");
        File.WriteAllText(path, JsonSerializer.Serialize(document));
        return path;
    }
}
