using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// Reads a Hugging Face tokenizer.json holding a BPE model into a <see cref="BpeModelDefinition"/>: byte-level BPE
/// (GPT-2, Llama-3, DeepSeek style: a ByteLevel pre-tokenizer) or character-level BPE (Llama-2, Mistral, Gemma style:
/// "▁" for spaces, byte_fallback). Written by hand: Microsoft.ML.Tokenizers has no loader for a BPE tokenizer.json.
/// Supported: model.type "BPE" (vocab, merges in "a b" or ["a","b"] form, continuing_subword_prefix,
/// end_of_word_suffix, unk_token, fuse_unk, byte_fallback, ignore_merges); added_tokens; pre_tokenizer null /
/// ByteLevel / Split / Digits / Sequence of them / Metaspace; normalizer null / NFC / NFD / NFKC / NFKD / Lowercase /
/// Prepend / Replace / Strip / Sequence of them; decoder null / ByteLevel / Replace / ByteFallback / Fuse / Strip /
/// Metaspace / Sequence of them. Anything else is refused with a <see cref="NotSupportedException"/> naming the field,
/// the type and the file. The post_processor is not needed (Encode adds no special tokens); model.dropout is a
/// training-time option and is ignored.
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
            throw new NotSupportedException($"{source}: the field \"model.type\" is \"{type}\"; only \"BPE\" models are supported.");
        }

        Dictionary<string, int> vocabulary = JsonFields.Vocabulary(JsonFields.Required(model, "vocab", source, "model"), source, "model.vocab");
        List<BpeValidation.Merge> merges = ReadMerges(JsonFields.Required(model, "merges", source, "model"), source);
        string? prefix = JsonFields.OptionalString(model, "continuing_subword_prefix", source, "model");
        string? suffix = JsonFields.OptionalString(model, "end_of_word_suffix", source, "model");
        if (prefix is "") prefix = null;
        if (suffix is "") suffix = null;
        string? unknownToken = JsonFields.OptionalString(model, "unk_token", source, "model");
        bool fuseUnknown = JsonFields.OptionalBool(model, "fuse_unk", false, source, "model");
        bool byteFallback = JsonFields.OptionalBool(model, "byte_fallback", false, source, "model");
        bool ignoreMerges = JsonFields.OptionalBool(model, "ignore_merges", false, source, "model");

        List<AddedToken> addedTokens = ReadAddedTokens(root, source);
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (AddedToken token in addedTokens) added[token.Content] = token.Id;
        CheckAddedTokens(added, vocabulary, source);

        var normalizerSteps = new List<Func<string, string>>();
        JsonElement? normalizer = JsonFields.Optional(root, "normalizer", source, "");
        if (normalizer is { ValueKind: not JsonValueKind.Null })
        {
            ReadNormalizer(normalizer.Value, source, "normalizer", normalizerSteps);
        }

        var state = new PreTokenizerState();
        PreTokenizer? preTokenizer = null;
        JsonElement? preTokenizerJson = JsonFields.Optional(root, "pre_tokenizer", source, "");
        if (preTokenizerJson is { ValueKind: not JsonValueKind.Null })
        {
            preTokenizer = ReadPreTokenizer(preTokenizerJson.Value, source, "pre_tokenizer", state, first: true);
        }

        JsonElement? decoderJson = JsonFields.Optional(root, "decoder", source, "");
        List<Func<List<string>, List<string>>>? decoderSteps = null;
        var decoderTypes = new List<string>();
        if (decoderJson is { ValueKind: not JsonValueKind.Null })
        {
            decoderSteps = [];
            ReadDecoder(decoderJson.Value, source, "decoder", decoderSteps, decoderTypes);
        }

        (string eotToken, int eotId) = FindEndOfText(endOfTextToken, added, vocabulary, source);
        if (!added.ContainsKey(eotToken)) added[eotToken] = eotId;
        TextNormalizer? textNormalizer = normalizerSteps.Count == 0 ? null : new TextNormalizer(normalizerSteps);

        if (!state.SawByteLevel)
        {
            return CharacterLevel();
        }

        // Byte-level BPE: every byte is a vocabulary symbol, so byte_fallback and unk_token never apply.
        foreach (BpeValidation.Merge merge in merges)
        {
            if (merge.Left.Contains(' ') || merge.Right.Contains(' '))
            {
                // BpeOptions takes merges as "left right" strings, so a token holding a space cannot be passed on.
                throw new NotSupportedException($"{source}: the field \"{merge.Location}\" has a token containing a space, which byte-level BPE does not use.");
            }
        }
        if (decoderTypes.Any(t => t != "ByteLevel"))
        {
            throw new NotSupportedException($"{source}: the field \"decoder\" holds {string.Join(", ", decoderTypes.Distinct().Select(t => $"\"{t}\""))}; a byte-level BPE model (ByteLevel pre-tokenizer) is decoded by its bytes, so only a ByteLevel decoder (or none) is supported with it.");
        }
        if (suffix is not null) RequireSuffixedByteSymbols(vocabulary, suffix, source);
        BpeValidation.Validate(vocabulary, merges, prefix, $"{source} field \"model.vocab\"", $"{source} field \"model.merges\"");

        return new BpeModelDefinition
        {
            Vocabulary = vocabulary,
            Merges = merges.Select(m => m.Left + " " + m.Right).ToList(),
            MergePairs = merges.Select(m => (m.Left, m.Right)).ToList(),
            AddedTokens = added,
            AddedTokenRules = addedTokens,
            PreTokenizer = preTokenizer ?? new WholeTextPreTokenizer(),
            Normalizer = textNormalizer,
            AddPrefixSpace = state.AddPrefixSpace,
            ContinuingSubwordPrefix = prefix,
            EndOfWordSuffix = suffix,
            IgnoreMerges = ignoreMerges,
            EndOfTextToken = eotToken,
            EndOfTextId = eotId,
        };

        BpeModelDefinition CharacterLevel()
        {
            if (!byteFallback && unknownToken is null)
            {
                throw new NotSupportedException(
                    $"{source}: the model has no ByteLevel pre-tokenizer, \"model.byte_fallback\" is false and \"model.unk_token\" is null, so characters missing from \"model.vocab\" would be dropped silently; only byte-level BPE, or BPE with byte_fallback or an unk_token, is supported.");
            }
            if (unknownToken is not null && !vocabulary.ContainsKey(unknownToken))
            {
                throw new InvalidDataException($"{source}: the field \"model.unk_token\" is '{unknownToken}', which is not in \"model.vocab\".");
            }
            BpeValidation.ValidateMerges(vocabulary, merges, prefix, $"{source} field \"model.vocab\"", $"{source} field \"model.merges\"");
            return new BpeModelDefinition
            {
                Vocabulary = vocabulary,
                Merges = [],
                MergePairs = merges.Select(m => (m.Left, m.Right)).ToList(),
                AddedTokens = added,
                AddedTokenRules = addedTokens,
                PreTokenizer = preTokenizer ?? new WholeTextPreTokenizer(),
                Normalizer = textNormalizer,
                ByteLevel = false,
                ContinuingSubwordPrefix = prefix,
                EndOfWordSuffix = suffix,
                UnknownToken = unknownToken,
                FuseUnknown = fuseUnknown,
                ByteFallback = byteFallback,
                IgnoreMerges = ignoreMerges,
                Metaspace = state.Metaspace,
                Decoder = new TokenDecoder(decoderSteps),
                EndOfTextToken = eotToken,
                EndOfTextId = eotId,
            };
        }
    }

    private sealed class PreTokenizerState
    {
        public bool SawByteLevel { get; set; }

        public bool AddPrefixSpace { get; set; }

        public MetaspaceSettings? Metaspace { get; set; }
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
                if (left.Length == 0 || right.Length == 0)
                {
                    throw new InvalidDataException($"{source}: the field \"{path}\" has an empty token.");
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
            case "Prepend":
                steps.Add(TextNormalizer.Prepend(JsonFields.RequiredString(json, "prepend", source, path)));
                break;
            case "Replace":
            {
                (string? literal, Regex? regex) = ReadPattern(json, source, path);
                string content = JsonFields.RequiredString(json, "content", source, path);
                steps.Add(literal is not null
                    ? TextNormalizer.ReplaceLiteral(literal, content)
                    : TextNormalizer.ReplaceRegex(regex!, content, $"{source}: the Replace normalizer \"{path}\""));
                break;
            }
            case "Strip":
                steps.Add(TextNormalizer.Strip(
                    JsonFields.OptionalBool(json, "strip_left", true, source, path),
                    JsonFields.OptionalBool(json, "strip_right", true, source, path)));
                break;
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
                throw new NotSupportedException($"{source}: the field \"{path}.type\" is \"{type}\"; supported normalizers are NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip and Sequence.");
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
            case "Metaspace":
            {
                if (path != "pre_tokenizer")
                {
                    throw new NotSupportedException($"{source}: the field \"{path}.type\" is \"Metaspace\" inside a Sequence; a Metaspace pre-tokenizer is supported only as the whole \"pre_tokenizer\".");
                }
                state.Metaspace = ReadMetaspace(json, source, path);
                return null;
            }
            case "Split":
            {
                (string? literal, Regex? found) = ReadPattern(json, source, path);
                Regex regex = found ?? new Regex(Regex.Escape(literal!), RegexOptions.Compiled, PatternGuard.MatchTimeout);
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
                throw new NotSupportedException($"{source}: the field \"{path}.type\" is \"{type}\"; supported pre-tokenizers are ByteLevel, Split, Digits, Sequence and Metaspace.");
        }
    }

    /// <summary>
    /// The "pattern" of a Split pre-tokenizer or a Replace normalizer or decoder: a literal ("String", returned as is) or a
    /// regular expression ("Regex", compiled under <see cref="PatternGuard"/>).
    /// </summary>
    private static (string? Literal, Regex? Regex) ReadPattern(JsonElement json, string source, string path)
    {
        JsonElement pattern = JsonFields.Required(json, "pattern", source, path);
        JsonFields.RequireKind(pattern, JsonValueKind.Object, source, path + ".pattern");
        string? regexText = JsonFields.OptionalString(pattern, "Regex", source, path + ".pattern");
        string? literal = JsonFields.OptionalString(pattern, "String", source, path + ".pattern");
        if (regexText is null && literal is null)
        {
            throw new InvalidDataException($"{source}: the field \"{path}.pattern\" must hold \"Regex\" or \"String\".");
        }
        if (regexText is not null) return (null, PatternGuard.Create(regexText, $"{source}: the field \"{path}.pattern.Regex\""));
        if (literal!.Length == 0)
        {
            throw new InvalidDataException($"{source}: the field \"{path}.pattern.String\" is empty.");
        }
        return (literal, null);
    }

    /// <summary>One character (a Unicode scalar, as Rust's <c>char</c>) from the field <paramref name="name"/>.</summary>
    private static Rune ReadCharacter(JsonElement json, string name, string? fallback, string source, string path)
    {
        string? text = JsonFields.OptionalString(json, name, source, path) ?? fallback;
        if (text is null)
        {
            throw new InvalidDataException($"{source}: the field \"{JsonFields.Join(path, name)}\" is missing.");
        }
        if (Rune.DecodeFromUtf16(text, out Rune rune, out int used) != System.Buffers.OperationStatus.Done || used != text.Length)
        {
            throw new InvalidDataException($"{source}: the field \"{JsonFields.Join(path, name)}\" must be one character, not \"{MessageText.Printable(text)}\".");
        }
        return rune;
    }

    private static int ReadCount(JsonElement json, string name, string source, string path)
    {
        JsonElement? value = JsonFields.Optional(json, name, source, path);
        if (value is null || value.Value.ValueKind == JsonValueKind.Null) return 0;
        if (value.Value.ValueKind != JsonValueKind.Number || !value.Value.TryGetInt32(out int count) || count < 0)
        {
            throw new InvalidDataException($"{source}: the field \"{JsonFields.Join(path, name)}\" must be a count (a whole number, 0 or more).");
        }
        return count;
    }

    /// <summary>The Metaspace settings of a pre-tokenizer or decoder: replacement, prepend_scheme (or the older add_prefix_space), split.</summary>
    private static MetaspaceSettings ReadMetaspace(JsonElement json, string source, string path)
    {
        Rune replacement = ReadCharacter(json, "replacement", null, source, path);
        string schemeText = JsonFields.OptionalString(json, "prepend_scheme", source, path) ?? "always";
        MetaspacePrepend scheme = schemeText switch
        {
            "always" => MetaspacePrepend.Always,
            "first" => MetaspacePrepend.First,
            "never" => MetaspacePrepend.Never,
            _ => throw new InvalidDataException($"{source}: the field \"{path}.prepend_scheme\" is \"{schemeText}\"; expected \"always\", \"first\" or \"never\"."),
        };
        JsonElement? addPrefixSpace = JsonFields.Optional(json, "add_prefix_space", source, path);
        if (addPrefixSpace is { ValueKind: JsonValueKind.False })
        {
            // As the reference reads it: add_prefix_space false means "never", and contradicts any other scheme given.
            if (scheme != MetaspacePrepend.Never && JsonFields.OptionalString(json, "prepend_scheme", source, path) is not null)
            {
                throw new InvalidDataException($"{source}: the field \"{path}.add_prefix_space\" is false but \"{path}.prepend_scheme\" is \"{schemeText}\".");
            }
            scheme = MetaspacePrepend.Never;
        }
        bool split = JsonFields.OptionalBool(json, "split", true, source, path);
        return new MetaspaceSettings(replacement.ToString(), scheme, split);
    }

    private static void ReadDecoder(JsonElement json, string source, string path, List<Func<List<string>, List<string>>> steps, List<string> types)
    {
        JsonFields.RequireKind(json, JsonValueKind.Object, source, path);
        string type = JsonFields.RequiredString(json, "type", source, path);
        if (type != "Sequence") types.Add(type);
        switch (type)
        {
            case "ByteLevel": steps.Add(TokenDecoder.ByteLevel); break;
            case "ByteFallback": steps.Add(TokenDecoder.ByteFallback); break;
            case "Fuse": steps.Add(TokenDecoder.Fuse); break;
            case "Replace":
            {
                (string? literal, Regex? regex) = ReadPattern(json, source, path);
                string content = JsonFields.RequiredString(json, "content", source, path);
                steps.Add(literal is not null
                    ? TokenDecoder.Replace(literal, content)
                    : TokenDecoder.Replace(TextNormalizer.ReplaceRegex(regex!, content, $"{source}: the Replace decoder \"{path}\"")));
                break;
            }
            case "Strip":
                steps.Add(TokenDecoder.Strip(
                    ReadCharacter(json, "content", null, source, path),
                    ReadCount(json, "start", source, path),
                    ReadCount(json, "stop", source, path)));
                break;
            case "Metaspace":
            {
                MetaspaceSettings settings = ReadMetaspace(json, source, path);
                steps.Add(TokenDecoder.Metaspace(Rune.GetRuneAt(settings.Replacement, 0), settings.Prepend != MetaspacePrepend.Never));
                break;
            }
            case "Sequence":
            {
                JsonElement list = JsonFields.Required(json, "decoders", source, path);
                JsonFields.RequireKind(list, JsonValueKind.Array, source, path + ".decoders");
                int i = 0;
                foreach (JsonElement item in list.EnumerateArray())
                {
                    ReadDecoder(item, source, $"{path}.decoders[{i++}]", steps, types);
                }
                break;
            }
            default:
                throw new NotSupportedException($"{source}: the field \"{path}.type\" is \"{type}\"; supported decoders are ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace and Sequence.");
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
