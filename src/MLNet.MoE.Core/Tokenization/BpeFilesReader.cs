using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// Reads GPT-2-style vocab.json + merges.txt contents into a <see cref="BpeModelDefinition"/>. The parsing is done
/// here rather than by BpeTokenizer.Create(vocabFile, mergesFile) so that bad files give messages naming the file,
/// key or line, and so that the state can be rebuilt from the file contents held in a serialized tokenizer.
/// </summary>
internal static class BpeFilesReader
{
    /// <summary>End-of-text tokens looked for in the vocabulary when none is named.</summary>
    public static readonly string[] DefaultEndOfTextTokens = ["<|endoftext|>", "</s>"];

    /// <summary>Builds the definition from the two files' bytes.</summary>
    /// <param name="vocabJson">The vocab.json contents.</param>
    /// <param name="vocabName">Names vocab.json in messages.</param>
    /// <param name="mergesTxt">The merges.txt contents.</param>
    /// <param name="mergesName">Names merges.txt in messages.</param>
    /// <param name="endOfTextToken">The document separator; null looks for <see cref="DefaultEndOfTextTokens"/>.</param>
    public static BpeModelDefinition Read(byte[] vocabJson, string vocabName, byte[] mergesTxt, string mergesName, string? endOfTextToken)
    {
        Dictionary<string, int> vocabulary;
        using (JsonDocument document = JsonFields.Parse(vocabJson, $"'{vocabName}'"))
        {
            vocabulary = JsonFields.Vocabulary(document.RootElement, $"'{vocabName}'", "");
        }

        List<BpeValidation.Merge> merges = ParseMerges(mergesTxt, mergesName);
        BpeValidation.Validate(vocabulary, merges, null, $"'{vocabName}'", $"'{mergesName}'");

        string eotToken;
        if (endOfTextToken is not null)
        {
            if (!vocabulary.ContainsKey(endOfTextToken))
            {
                throw new ArgumentException($"The end-of-text token '{endOfTextToken}' given as endOfTextToken is not in '{vocabName}'.", nameof(endOfTextToken));
            }
            eotToken = endOfTextToken;
        }
        else
        {
            eotToken = DefaultEndOfTextTokens.FirstOrDefault(vocabulary.ContainsKey)
                ?? throw new InvalidDataException(
                    $"'{vocabName}' has none of the end-of-text tokens {string.Join(", ", DefaultEndOfTextTokens.Select(t => $"'{t}'"))}: name the document separator with the endOfTextToken option.");
        }

        return new BpeModelDefinition
        {
            Vocabulary = vocabulary,
            Merges = merges.Select(m => m.Left + " " + m.Right).ToList(),
            AddedTokens = new Dictionary<string, int> { [eotToken] = vocabulary[eotToken] },
            PreTokenizer = new RegexPreTokenizer(new Regex(PreTokenizerPatterns.Gpt2, RegexOptions.Compiled), specialTokens: null),
            EndOfTextToken = eotToken,
            EndOfTextId = vocabulary[eotToken],
        };
    }

    private static List<BpeValidation.Merge> ParseMerges(byte[] mergesTxt, string mergesName)
    {
        string content;
        try
        {
            content = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(mergesTxt);
        }
        catch (DecoderFallbackException ex)
        {
            throw new InvalidDataException($"'{mergesName}' is not valid UTF-8 text.", ex);
        }
        if (content.Length > 0 && content[0] == '\uFEFF') content = content.Substring(1);

        var merges = new List<BpeValidation.Merge>();
        string[] lines = content.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].EndsWith('\r') ? lines[i][..^1] : lines[i];
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            int space = line.IndexOf(' ');
            if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
            {
                throw new InvalidDataException($"'{mergesName}', line {i + 1}: expected two tokens separated by one space, found \"{Truncate(line)}\".");
            }
            merges.Add(new BpeValidation.Merge(line[..space], line[(space + 1)..], $"line {i + 1}"));
        }
        return merges;
    }

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
