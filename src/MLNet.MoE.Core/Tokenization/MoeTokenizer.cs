namespace MLNet.MoE;

/// <summary>
/// Turns text into token ids and back for MoE language models, wrapping Microsoft.ML.Tokenizers.
/// Kinds: a file-free byte-level tokenizer (the default), the OpenAI tiktoken encodings, GPT-2-style
/// vocab.json + merges.txt BPE, and BPE from a Hugging Face tokenizer.json (byte-level, or Llama-2 / Gemma style with
/// byte fallback).
/// </summary>
/// <remarks>
/// <see cref="Encode(string)"/> adds no special tokens and, by default, never turns special-token text found in the
/// input (such as "&lt;|endoftext|&gt;") into special ids, so that user text cannot forge control tokens; pass
/// parseSpecialTokens to <see cref="Encode(string, bool)"/> for text that is already formatted with them (a chat prompt).
/// Added tokens of a tokenizer.json that are not special are always split out of the text first, as in Hugging Face
/// tokenizers. Documents are separated with
/// <see cref="EndOfTextId"/> by the caller. Instances are immutable; <see cref="Serialize"/> captures everything
/// needed to rebuild one without the original files.
/// </remarks>
public sealed class MoeTokenizer
{
    private readonly TokenizerBackend _backend;
    private readonly TokenizerState _state;

    private MoeTokenizer(TokenizerBackend backend, TokenizerState state)
    {
        _backend = backend;
        _state = state;
    }

    /// <summary>The names <see cref="Tiktoken"/> accepts: "gpt2", "cl100k_base" and "o200k_base".</summary>
    public static IReadOnlyList<string> TiktokenEncodingNames { get; } = TiktokenBackend.Encodings.Keys.ToArray();

    /// <summary>A short description: "byte-level", "tiktoken:gpt2", "bpe" or "hf:" plus the tokenizer.json file name.</summary>
    public string Name => _state.Name;

    /// <summary>1 + the largest id <see cref="Encode(string)"/> can return or <see cref="Decode"/> accepts, special tokens included: the number of rows a model's embedding needs.</summary>
    public int VocabularySize => _backend.VocabularySize;

    /// <summary>The id placed between documents when packing text for training.</summary>
    public int EndOfTextId => _backend.EndOfTextId;

    /// <summary>The text of the end-of-text token, e.g. "&lt;|endoftext|&gt;" or "&lt;/s&gt;".</summary>
    public string EndOfTextToken => _backend.EndOfTextToken;

    /// <summary>The default tokenizer, needing no files: ids 0..255 are the UTF-8 bytes of the text and id 256 is "&lt;|endoftext|&gt;"; <see cref="VocabularySize"/> is 257.</summary>
    public static MoeTokenizer ByteLevel() =>
        new(ByteLevelBackend.Instance, new TokenizerState { Kind = TokenizerKind.ByteLevel, Name = "byte-level" });

    /// <summary>An OpenAI tiktoken encoding from the Microsoft.ML.Tokenizers data packages.</summary>
    /// <param name="encodingName">One of <see cref="TiktokenEncodingNames"/> (case-insensitive).</param>
    /// <exception cref="ArgumentException">The name is not one of <see cref="TiktokenEncodingNames"/>.</exception>
    public static MoeTokenizer Tiktoken(string encodingName)
    {
        ArgumentNullException.ThrowIfNull(encodingName);
        string? name = TiktokenEncodingNames.FirstOrDefault(n => string.Equals(n, encodingName.Trim(), StringComparison.OrdinalIgnoreCase));
        if (name is null)
        {
            throw new ArgumentException(
                $"Unknown tiktoken encoding '{encodingName}' for {nameof(encodingName)}; valid names are {string.Join(", ", TiktokenEncodingNames.Select(n => $"\"{n}\""))}.",
                nameof(encodingName));
        }
        return new MoeTokenizer(new TiktokenBackend(name), new TokenizerState { Kind = TokenizerKind.Tiktoken, Name = "tiktoken:" + name, Text = name });
    }

    /// <summary>GPT-2's encoding (50,257 ids; "&lt;|endoftext|&gt;" is 50256).</summary>
    public static MoeTokenizer Gpt2() => Tiktoken("gpt2");

    /// <summary>The cl100k_base encoding (GPT-3.5 / GPT-4).</summary>
    public static MoeTokenizer Cl100kBase() => Tiktoken("cl100k_base");

    /// <summary>The o200k_base encoding (GPT-4o).</summary>
    public static MoeTokenizer O200kBase() => Tiktoken("o200k_base");

    /// <summary>GPT-2-style byte-level BPE from a vocab.json (token to id) and a merges.txt (one "a b" merge a line).</summary>
    /// <param name="vocabJsonPath">The vocab.json file.</param>
    /// <param name="mergesTxtPath">The merges.txt file.</param>
    /// <param name="endOfTextToken">The document separator, which must be in the vocabulary; null picks "&lt;|endoftext|&gt;" or "&lt;/s&gt;".</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or no end-of-text token is found.</exception>
    /// <exception cref="ArgumentException"><paramref name="endOfTextToken"/> is not in the vocabulary.</exception>
    public static MoeTokenizer FromBpeFiles(string vocabJsonPath, string mergesTxtPath, string? endOfTextToken = null)
    {
        byte[] vocab = ReadFile(vocabJsonPath, nameof(vocabJsonPath));
        byte[] merges = ReadFile(mergesTxtPath, nameof(mergesTxtPath));
        var state = new TokenizerState
        {
            Kind = TokenizerKind.BpeFiles,
            Name = "bpe",
            Text = Path.GetFileName(vocabJsonPath),
            Text2 = Path.GetFileName(mergesTxtPath),
            EndOfTextToken = endOfTextToken,
            Data = vocab,
            Data2 = merges,
        };
        return FromState(state);
    }

    /// <summary>BPE from a Hugging Face tokenizer.json (model.type "BPE"): byte-level (GPT-2, Llama-3, DeepSeek) or character-level with byte fallback (Llama-2, Mistral, Gemma).</summary>
    /// <param name="tokenizerJsonPath">The tokenizer.json file.</param>
    /// <exception cref="FileNotFoundException">The file is missing.</exception>
    /// <exception cref="InvalidDataException">The file is not valid JSON, a field is missing or malformed, or no end-of-text token is found.</exception>
    /// <exception cref="NotSupportedException">The model, normalizer, pre-tokenizer or decoder is of a type not supported; the message names it and the file.</exception>
    public static MoeTokenizer FromHuggingFaceJson(string tokenizerJsonPath) => FromHuggingFaceJson(tokenizerJsonPath, null);

    /// <summary>BPE from a Hugging Face tokenizer.json (model.type "BPE"), naming the document separator.</summary>
    /// <param name="tokenizerJsonPath">The tokenizer.json file.</param>
    /// <param name="endOfTextToken">The document separator, from added_tokens or model.vocab; null picks the first present of
    /// "&lt;|endoftext|&gt;", "&lt;|end_of_text|&gt;", "&lt;/s&gt;", "&lt;｜end▁of▁sentence｜&gt;", "&lt;eos&gt;".</param>
    /// <exception cref="FileNotFoundException">The file is missing.</exception>
    /// <exception cref="InvalidDataException">The file is not valid JSON, a field is missing or malformed, or no end-of-text token is found.</exception>
    /// <exception cref="NotSupportedException">The model, normalizer, pre-tokenizer or decoder is of a type not supported; the message names it and the file.</exception>
    /// <exception cref="ArgumentException"><paramref name="endOfTextToken"/> is not in the file.</exception>
    public static MoeTokenizer FromHuggingFaceJson(string tokenizerJsonPath, string? endOfTextToken)
    {
        byte[] json = ReadFile(tokenizerJsonPath, nameof(tokenizerJsonPath));
        string fileName = Path.GetFileName(tokenizerJsonPath);
        var state = new TokenizerState
        {
            Kind = TokenizerKind.HuggingFaceJson,
            Name = "hf:" + fileName,
            Text = fileName,
            EndOfTextToken = endOfTextToken,
            Data = json,
        };
        return FromState(state);
    }

    /// <summary>
    /// Encodes plain text to ids; no special tokens are added and special-token text in the input stays text. A lone
    /// UTF-16 surrogate (possible in a .NET string, but not Unicode) is encoded as U+FFFD, as UTF-8 encodes it, by every
    /// tokenizer alike.
    /// </summary>
    /// <param name="text">The text.</param>
    public int[] Encode(string text) => Encode(text, parseSpecialTokens: false);

    /// <summary>
    /// Encodes text to ids, adding no special tokens. With <paramref name="parseSpecialTokens"/>, special-token text of a
    /// tokenizer.json (such as "&lt;｜begin▁of▁sentence｜&gt;" or "&lt;s&gt;") found in the input becomes its id, as Hugging
    /// Face tokenizers' encode does; without it (the default of <see cref="Encode(string)"/>, safe for user text) it stays
    /// plain text. Tokenizers of other kinds treat special-token text as plain text either way.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="parseSpecialTokens">Whether special-token text in <paramref name="text"/> becomes special ids.</param>
    public int[] Encode(string text, bool parseSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Length == 0 ? [] : _backend.Encode(WithoutLoneSurrogates(text), parseSpecialTokens);
    }

    /// <summary><paramref name="text"/> with each unpaired surrogate replaced by U+FFFD (the same string when there is none).</summary>
    internal static string WithoutLoneSurrogates(string text)
    {
        int first = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0) return text;
        char[] chars = text.ToCharArray();
        for (int i = first; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++;
            else if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }

    /// <summary>Whether <paramref name="id"/> is a token of this tokenizer (some encodings leave gaps below <see cref="VocabularySize"/>).</summary>
    /// <param name="id">The id.</param>
    public bool HasToken(int id) => id >= 0 && id < VocabularySize && _backend.HasToken(id);

    /// <summary>Decodes ids to text: the inverse of <see cref="Encode(string)"/> for ordinary text. Special ids decode to their text; bytes that do not form valid UTF-8 become U+FFFD.</summary>
    /// <param name="ids">The ids.</param>
    /// <exception cref="ArgumentOutOfRangeException">An id is negative, not below <see cref="VocabularySize"/>, or has no token.</exception>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] list = ids.ToArray();
        foreach (int id in list)
        {
            if (!HasToken(id))
            {
                string why = id < 0 || id >= VocabularySize
                    ? $"outside [0, {VocabularySize})"
                    : "a gap in the vocabulary with no token";
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is {why} for tokenizer '{Name}'.");
            }
        }
        return list.Length == 0 ? string.Empty : _backend.DecodeChecked(list);
    }

    /// <summary>Everything needed to rebuild this tokenizer with <see cref="Deserialize"/>, in a versioned binary format.
    /// BPE and tokenizer.json kinds carry the full file contents, tiktoken only the encoding name.</summary>
    public byte[] Serialize() => _state.ToBytes();

    /// <summary>
    /// Hugging Face tokenizer files that tokenize exactly as this tokenizer (<c>tokenizer.json</c> and
    /// <c>tokenizer_config.json</c>), for the byte-level tokenizer and tokenizers read from a <c>tokenizer.json</c>;
    /// null for tiktoken and BPE-file tokenizers, which have no such form here.
    /// </summary>
    /// <param name="modelMaxLength">The longest sequence the model takes, for <c>tokenizer_config.json</c>.</param>
    internal (byte[] TokenizerJson, byte[] TokenizerConfigJson)? HuggingFaceFiles(int modelMaxLength)
    {
        byte[]? json = _state.Kind switch
        {
            TokenizerKind.HuggingFaceJson => _state.Data,
            TokenizerKind.ByteLevel => HuggingFaceJsonWriter.ByteLevelTokenizerJson(),
            _ => null,
        };
        if (json == null) return null;
        byte[] config = _backend is CharacterBpeBackend characterLevel
            ? HuggingFaceJsonWriter.FastTokenizerConfigJson(EndOfTextToken, characterLevel.UnknownToken, modelMaxLength)
            : HuggingFaceJsonWriter.TokenizerConfigJson(EndOfTextToken, modelMaxLength);
        return (json, config);
    }

    /// <summary>Rebuilds a tokenizer from <see cref="Serialize"/>'s output.</summary>
    /// <param name="state">The serialized state.</param>
    /// <exception cref="InvalidDataException">The state is not a serialized tokenizer, is truncated, or is corrupt.</exception>
    public static MoeTokenizer Deserialize(byte[] state)
    {
        TokenizerState parsed = TokenizerState.FromBytes(state);
        try
        {
            return FromState(parsed);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or InvalidDataException or InvalidOperationException)
        {
            throw new InvalidDataException($"The serialized MoeTokenizer '{parsed.Name}' could not be rebuilt: {MessageText.Printable(ex.Message)}", ex);
        }
    }

    /// <summary>The name.</summary>
    public override string ToString() => $"{Name} ({VocabularySize} ids)";

    private static MoeTokenizer FromState(TokenizerState state)
    {
        switch (state.Kind)
        {
            case TokenizerKind.ByteLevel:
                return ByteLevel();
            case TokenizerKind.Tiktoken:
                return Tiktoken(Require(state.Text, "encoding name"));
            case TokenizerKind.BpeFiles:
            {
                BpeModelDefinition definition = BpeFilesReader.Read(
                    Require(state.Data, "vocab.json"), Require(state.Text, "vocab file name"),
                    Require(state.Data2, "merges.txt"), Require(state.Text2, "merges file name"),
                    state.EndOfTextToken);
                return new MoeTokenizer(new BpeBackend(definition, $"'{state.Text}' / '{state.Text2}'"), state);
            }
            case TokenizerKind.HuggingFaceJson:
            {
                BpeModelDefinition definition = HuggingFaceJsonReader.Read(Require(state.Data, "tokenizer.json"), Require(state.Text, "file name"), state.EndOfTextToken);
                TokenizerBackend backend = definition.ByteLevel ? new BpeBackend(definition, $"'{state.Text}'") : new CharacterBpeBackend(definition);
                return new MoeTokenizer(backend, state);
            }
            default:
                throw new InvalidDataException($"Unknown tokenizer kind {state.Kind}.");
        }
    }

    private static T Require<T>(T? value, string what) where T : class =>
        value ?? throw new InvalidDataException($"The serialized MoeTokenizer lacks its {what}.");

    private static byte[] ReadFile(string path, string parameterName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path, parameterName);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"The tokenizer file '{full}' ({parameterName}) does not exist.", full);
        }
        return File.ReadAllBytes(full);
    }
}
