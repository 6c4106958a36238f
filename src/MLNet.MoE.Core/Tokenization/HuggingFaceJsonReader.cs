using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// Reads a Hugging Face tokenizer.json holding a byte-level BPE model into a <see cref="BpeModelDefinition"/>.
/// Written by hand: Microsoft.ML.Tokenizers has no loader for tokenizer.json.
/// Supported: model.type "BPE" (vocab, merges in "a b" or ["a","b"] form, continuing_subword_prefix,
/// end_of_word_suffix); added_tokens; pre_tokenizer ByteLevel / Split / Digits / Sequence of them;
/// normalizer null / NFC / NFD / NFKC / NFKD / Lowercase / Sequence of them. The decoder and post_processor are not
/// needed (decoding is byte-level, Encode adds no special tokens); model.dropout is a training-time option and is ignored.
/// </summary>
internal static class HuggingFaceJsonReader
{
    /// <summary>End-of-text tokens looked for (in added_tokens, then model.vocab) when none is named.</summary>
    public static readonly string[] DefaultEndOfTextTokens =
        ["<|endoftext|>", "<|end_of_text|>", "</s>", "<｜end▁of▁sentence｜>", "<eos>"];

    /// <summary>Parses the file contents; <paramref name="fileName"/> names it in messages.</summary>
    public static BpeModelDefinition Read(byte[] json, string fileName, string? endOfTextToken)
    {
        string source = $"'{fileName}'";
        using JsonDocument document = JsonFields.Parse(json, source);
        JsonElement root = document.RootElement;
        JsonFields.RequireKind(root, JsonValueKind.Object, source, "");

        JsonElement model = JsonFields.Required(root, "model", source, "");
        JsonFields.RequireKind(model, JsonValueKind.Object, source, "model");
        string type = JsonFields.RequiredString(model, "type", source, "model");
        if (type != "BPE")
        {
            throw new NotSupportedException($"{source}: the field \"model.type\" is \"{type}\"; only byte-level \"BPE\" models are supported.");
        }

        Dictionary<string, int> vocabulary = JsonFields.Vocabulary(JsonFields.Required(model, "vocab", source, "model"), source, "model.vocab");
        List<BpeValidation.Merge> merges = ReadMerges(JsonFields.Required(model, "merges", source, "model"), source);
        string? prefix = JsonFields.OptionalString(model, "continuing_subword_prefix", source, "model");
        string? suffix = JsonFields.OptionalString(model, "end_of_word_suffix", source, "model");
        if (prefix is "") prefix = null;
        if (suffix is "") suffix = null;

        List<AddedToken> addedTokens = ReadAddedTokens(root, source);
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (AddedToken token in addedTokens) added[token.Content] = token.Id;
        CheckAddedTokens(added, vocabulary, source);
        if (suffix is not null) RequireSuffixedByteSymbols(vocabulary, suffix, source);

        var normalizerSteps = new List<Func<string, string>>();
        JsonElement? normalizer = JsonFields.Optional(root, "normalizer", source, "");
        if (normalizer is { ValueKind: not JsonValueKind.Null })
        {
            ReadNormalizer(normalizer.Value, source, "normalizer", normalizerSteps);
        }

        JsonElement? preTokenizerJson = JsonFields.Optional(root, "pre_tokenizer", source, "");
        if (preTokenizerJson is null || preTokenizerJson.Value.ValueKind == JsonValueKind.Null)
        {
            throw new NotSupportedException($"{source}: the field \"pre_tokenizer\" is missing or null; only byte-level BPE (a ByteLevel pre-tokenizer) is supported.");
        }
        var state = new PreTokenizerState();
        PreTokenizer? preTokenizer = ReadPreTokenizer(preTokenizerJson.Value, source, "pre_tokenizer", state, first: true);
        if (!state.SawByteLevel)
        {
            throw new NotSupportedException($"{source}: the field \"pre_tokenizer\" has no ByteLevel step; only byte-level BPE is supported.");
        }
        if (state.AddPrefixSpace) normalizerSteps.Add(TextNormalizer.PrefixSpace);

        BpeValidation.Validate(vocabulary, merges, prefix, $"{source} field \"model.vocab\"", $"{source} field \"model.merges\"");

        (string eotToken, int eotId) = FindEndOfText(endOfTextToken, added, vocabulary, source);
        if (!added.ContainsKey(eotToken)) added[eotToken] = eotId;

        return new BpeModelDefinition
        {
            Vocabulary = vocabulary,
            Merges = merges.Select(m => m.Left + " " + m.Right).ToList(),
            AddedTokens = added,
            AddedTokenRules = addedTokens,
            PreTokenizer = preTokenizer ?? new WholeTextPreTokenizer(),
            Normalizer = normalizerSteps.Count == 0 ? null : new TextNormalizer(normalizerSteps),
            ContinuingSubwordPrefix = prefix,
            EndOfWordSuffix = suffix,
            EndOfTextToken = eotToken,
            EndOfTextId = eotId,
        };
    }

    private sealed class PreTokenizerState
    {
        public bool SawByteLevel { get; set; }

        public bool AddPrefixSpace { get; set; }
    }

    /// <summary>
    /// An added token may repeat a vocabulary entry (same text, same id), as special tokens usually do, but may not take
    /// the id of a different token: decoding that id would be ambiguous, and the end-of-text token could become an
    /// ordinary word.
    /// </summary>
    private static void CheckAddedTokens(Dictionary<string, int> added, Dictionary<string, int> vocabulary, string source)
    {
        var tokenOfId = new Dictionary<int, string>();
        foreach (var (token, id) in vocabulary) tokenOfId[id] = token;
        var addedOfId = new Dictionary<int, string>();
        foreach (var (token, id) in added)
        {
            if (vocabulary.TryGetValue(token, out int vocabularyId) && vocabularyId != id)
                throw new InvalidDataException($"{source}: the added token '{token}' has id {id} in \"added_tokens\" but {vocabularyId} in \"model.vocab\".");
            if (tokenOfId.TryGetValue(id, out string? other) && other != token)
                throw new InvalidDataException($"{source}: the added token '{token}' takes id {id}, which \"model.vocab\" gives to '{other}'.");
            if (!addedOfId.TryAdd(id, token))
                throw new InvalidDataException($"{source}: \"added_tokens\" gives id {id} to both '{addedOfId[id]}' and '{token}'.");
        }
    }

    /// <summary>
    /// With an end-of-word suffix every word ends in a suffixed symbol, so each byte symbol needs its suffixed form;
    /// without it the tokenizer would drop the last character of every word that ends in that byte.
    /// </summary>
    private static void RequireSuffixedByteSymbols(Dictionary<string, int> vocabulary, string suffix, string source)
    {
        for (int b = 0; b < 256; b++)
        {
            string symbol = ByteLevelAlphabet.ByteToChar[b] + suffix;
            if (!vocabulary.ContainsKey(symbol))
                throw new InvalidDataException($"{source}: \"model.end_of_word_suffix\" is '{suffix}', but \"model.vocab\" lacks '{symbol}' (byte 0x{b:X2} ending a word): words ending in that byte would lose their last character.");
        }
    }

    private static List<BpeValidation.Merge> ReadMerges(JsonElement mergesJson, string source)
    {
        JsonFields.RequireKind(mergesJson, JsonValueKind.Array, source, "model.merges");
        var merges = new List<BpeValidation.Merge>();
        int index = 0;
        foreach (JsonElement item in mergesJson.EnumerateArray())
        {
            string path = $"model.merges[{index}]";
            string left, right;
            if (item.ValueKind == JsonValueKind.String)
            {
                string line = item.GetString()!;
                int space = line.IndexOf(' ');
                if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
                {
                    throw new InvalidDataException($"{source}: the field \"{path}\" must be two tokens separated by one space, not \"{line}\".");
                }
                left = line[..space];
                right = line[(space + 1)..];
            }
            else if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2
                     && item[0].ValueKind == JsonValueKind.String && item[1].ValueKind == JsonValueKind.String)
            {
                left = item[0].GetString()!;
                right = item[1].GetString()!;
                if (left.Length == 0 || right.Length == 0 || left.Contains(' ') || right.Contains(' '))
                {
                    // BpeOptions takes merges as "left right" strings, so a token holding a space cannot be passed on.
                    throw new NotSupportedException($"{source}: the field \"{path}\" has an empty token or a token containing a space, which byte-level BPE does not use.");
                }
            }
            else
            {
                throw new InvalidDataException($"{source}: the field \"{path}\" must be a string \"a b\" or an array [\"a\", \"b\"].");
            }
            merges.Add(new BpeValidation.Merge(left, right, path));
            index++;
        }
        return merges;
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, string source)
    {
        var added = new List<AddedToken>();
        JsonElement? addedJson = JsonFields.Optional(root, "added_tokens", source, "");
        if (addedJson is null || addedJson.Value.ValueKind == JsonValueKind.Null) return added;
        JsonFields.RequireKind(addedJson.Value, JsonValueKind.Array, source, "added_tokens");
        int index = 0;
        foreach (JsonElement token in addedJson.Value.EnumerateArray())
        {
            string path = $"added_tokens[{index++}]";
            JsonFields.RequireKind(token, JsonValueKind.Object, source, path);
            int id = JsonFields.Id(JsonFields.Required(token, "id", source, path), source, path + ".id");
            string content = JsonFields.RequiredString(token, "content", source, path);
            if (content.Length == 0)
            {
                throw new InvalidDataException($"{source}: the field \"{path}.content\" is empty.");
            }
            bool special = JsonFields.OptionalBool(token, "special", false, source, path);
            added.RemoveAll(t => t.Content == content);
            added.Add(new AddedToken(
                content,
                id,
                special,
                LStrip: JsonFields.OptionalBool(token, "lstrip", false, source, path),
                RStrip: JsonFields.OptionalBool(token, "rstrip", false, source, path),
                SingleWord: JsonFields.OptionalBool(token, "single_word", false, source, path),
                Normalized: JsonFields.OptionalBool(token, "normalized", !special, source, path)));
        }
        return added;
    }

    private static void ReadNormalizer(JsonElement json, string source, string path, List<Func<string, string>> steps)
    {
        string type = JsonFields.RequiredString(json, "type", source, path);
        switch (type)
        {
            case "NFC": steps.Add(TextNormalizer.Form(NormalizationForm.FormC)); break;
            case "NFD": steps.Add(TextNormalizer.Form(NormalizationForm.FormD)); break;
            case "NFKC": steps.Add(TextNormalizer.Form(NormalizationForm.FormKC)); break;
            case "NFKD": steps.Add(TextNormalizer.Form(NormalizationForm.FormKD)); break;
            case "Lowercase": steps.Add(TextNormalizer.Lowercase); break;
            case "Sequence":
                JsonElement list = JsonFields.Required(json, "normalizers", source, path);
                JsonFields.RequireKind(list, JsonValueKind.Array, source, path + ".normalizers");
                int i = 0;
                foreach (JsonElement item in list.EnumerateArray())
                {
                    ReadNormalizer(item, source, $"{path}.normalizers[{i++}]", steps);
                }
                break;
            default:
                throw new NotSupportedException($"{source}: the field \"{path}.type\" is \"{type}\"; supported normalizers are NFC, NFD, NFKC, NFKD, Lowercase and Sequence.");
        }
    }

    private static PreTokenizer? ReadPreTokenizer(JsonElement json, string source, string path, PreTokenizerState state, bool first)
    {
        string type = JsonFields.RequiredString(json, "type", source, path);
        switch (type)
        {
            case "ByteLevel":
            {
                state.SawByteLevel = true;
                if (JsonFields.OptionalBool(json, "add_prefix_space", false, source, path))
                {
                    if (!first)
                    {
                        throw new NotSupportedException($"{source}: the field \"{path}.add_prefix_space\" is true on a ByteLevel step that is not the first pre-tokenizer; that is not supported.");
                    }
                    state.AddPrefixSpace = true;
                }
                bool useRegex = JsonFields.OptionalBool(json, "use_regex", true, source, path);
                return useRegex ? new RegexPreTokenizer(new Regex(CodePointPattern.Translate(PreTokenizerPatterns.Gpt2), RegexOptions.Compiled), specialTokens: null) : null;
            }
            case "Split":
            {
                JsonElement pattern = JsonFields.Required(json, "pattern", source, path);
                string? regexText = JsonFields.OptionalString(pattern, "Regex", source, path + ".pattern");
                string? literal = JsonFields.OptionalString(pattern, "String", source, path + ".pattern");
                if (regexText is null && literal is null)
                {
                    throw new InvalidDataException($"{source}: the field \"{path}.pattern\" must hold \"Regex\" or \"String\".");
                }
                Regex regex = regexText is null
                    ? new Regex(Regex.Escape(literal!), RegexOptions.Compiled, PatternGuard.MatchTimeout)
                    : PatternGuard.Create(regexText, $"{source}: the field \"{path}.pattern.Regex\"");
                string behaviorText = JsonFields.OptionalString(json, "behavior", source, path) ?? "Isolated";
                if (!Enum.TryParse(behaviorText, ignoreCase: false, out SplitBehavior behavior) || !Enum.IsDefined(behavior))
                {
                    throw new InvalidDataException($"{source}: the field \"{path}.behavior\" is \"{behaviorText}\"; expected one of {string.Join(", ", Enum.GetNames<SplitBehavior>())}.");
                }
                bool invert = JsonFields.OptionalBool(json, "invert", false, source, path);
                return new SplitPreTokenizer(regex, behavior, invert, $"{source}: the Split pre-tokenizer \"{path}\"");
            }
            case "Digits":
            {
                bool individual = JsonFields.OptionalBool(json, "individual_digits", false, source, path);
                return new SplitPreTokenizer(new Regex(CodePointPattern.Translate(individual ? @"\p{N}" : @"\p{N}+"), RegexOptions.Compiled), SplitBehavior.Isolated, invert: false, $"{source}: the Digits pre-tokenizer \"{path}\"");
            }
            case "Sequence":
            {
                JsonElement list = JsonFields.Required(json, "pretokenizers", source, path);
                JsonFields.RequireKind(list, JsonValueKind.Array, source, path + ".pretokenizers");
                var stages = new List<PreTokenizer>();
                int i = 0;
                foreach (JsonElement item in list.EnumerateArray())
                {
                    PreTokenizer? stage = ReadPreTokenizer(item, source, $"{path}.pretokenizers[{i}]", state, first && i == 0);
                    if (stage is not null) stages.Add(stage);
                    i++;
                }
                return stages.Count switch
                {
                    0 => null,
                    1 => stages[0],
                    _ => new SequencePreTokenizer(stages),
                };
            }
            default:
                throw new NotSupportedException($"{source}: the field \"{path}.type\" is \"{type}\"; supported pre-tokenizers are ByteLevel, Split, Digits and Sequence.");
        }
    }

    private static (string Token, int Id) FindEndOfText(string? requested, Dictionary<string, int> added, Dictionary<string, int> vocabulary, string source)
    {
        if (requested is not null)
        {
            if (added.TryGetValue(requested, out int id) || vocabulary.TryGetValue(requested, out id)) return (requested, id);
            throw new ArgumentException($"The end-of-text token '{requested}' given as endOfTextToken is in neither \"added_tokens\" nor \"model.vocab\" of {source}.", "endOfTextToken");
        }
        foreach (string candidate in DefaultEndOfTextTokens)
        {
            if (added.TryGetValue(candidate, out int id) || vocabulary.TryGetValue(candidate, out id)) return (candidate, id);
        }
        throw new InvalidDataException(
            $"{source} has none of the end-of-text tokens {string.Join(", ", DefaultEndOfTextTokens.Select(t => $"'{t}'"))} in \"added_tokens\" or \"model.vocab\": name the document separator with the endOfTextToken option.");
    }
}
