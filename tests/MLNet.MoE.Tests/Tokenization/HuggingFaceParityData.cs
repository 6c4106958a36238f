using System.IO.Compression;
using System.Text.Json;

namespace MLNet.MoE.Tests.Tokenization;

/// <summary>
/// The tokenizer files and the ids Hugging Face tokenizers recorded for them (TestData/tokenizers, see its README):
/// expected values come from the reference implementation, never from this library.
/// </summary>
internal static class HuggingFaceParityData
{
    /// <summary>The folder holding the files.</summary>
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "TestData", "tokenizers");

    /// <summary>One probe text with the reference's ids, its ids with special tokens read as plain text, and its decoding.</summary>
    public sealed record Case(string Text, int[] Ids, int[] PlainIds, string Decoded);

    private static readonly Lazy<MoeTokenizer> DeepSeek = new(() =>
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "tokenizer.json");
        using (FileStream input = File.OpenRead(Path.Combine(Folder, "deepseek-v3.tokenizer.json.gz")))
        using (var gzip = new GZipStream(input, CompressionMode.Decompress))
        using (FileStream output = File.Create(path))
        {
            gzip.CopyTo(output);
        }
        return MoeTokenizer.FromHuggingFaceJson(path);
    });

    /// <summary>The real DeepSeek-V3 tokenizer, loaded once.</summary>
    public static MoeTokenizer DeepSeekV3 => DeepSeek.Value;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, MoeTokenizer> Small = new();

    /// <summary>The small tokenizer file <paramref name="stem"/> + ".json" of the folder (e.g. "llama-style.tokenizer"), loaded once.</summary>
    public static MoeTokenizer Load(string stem) =>
        Small.GetOrAdd(stem, s => MoeTokenizer.FromHuggingFaceJson(Path.Combine(Folder, s + ".json")));

    /// <summary>The recorded cases of the tokenizer file named <paramref name="stem"/> (e.g. "deepseek-v3.tokenizer").</summary>
    public static IReadOnlyList<Case> Cases(string stem)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, stem + ".expected.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("text").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            c.GetProperty("plainIds").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            c.GetProperty("decoded").GetString()!)).ToList();
    }
}
