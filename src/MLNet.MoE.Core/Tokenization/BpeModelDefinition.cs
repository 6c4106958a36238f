using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// Everything needed to build a BPE tokenizer, as parsed from vocab.json + merges.txt or tokenizer.json: byte-level
/// (a <see cref="BpeTokenizer"/>) when <see cref="ByteLevel"/>, else the character-level model of Llama- and Gemma-style
/// files (<see cref="CharacterBpeModel"/>).
/// </summary>
internal sealed class BpeModelDefinition
{
    /// <summary>Token text (byte-level symbols) to id.</summary>
    public required Dictionary<string, int> Vocabulary { get; init; }

    /// <summary>Merges in rank order, each "left right".</summary>
    public required List<string> Merges { get; init; }

    /// <summary>Added / special tokens: text to id; decoded to their text.</summary>
    public required Dictionary<string, int> AddedTokens { get; init; }

    /// <summary>The tokenizer.json "added_tokens" with their matching flags, found in text before pre-tokenization; empty for vocab.json + merges.txt.</summary>
    public IReadOnlyList<AddedToken> AddedTokenRules { get; init; } = [];

    /// <summary>Splits text before BPE; must know no special tokens.</summary>
    public required PreTokenizer PreTokenizer { get; init; }

    /// <summary>Optional text normalization before pre-tokenization (the file's normalizer; also applied to the text of normalized added tokens).</summary>
    public Normalizer? Normalizer { get; init; }

    /// <summary>The ByteLevel pre-tokenizer's add_prefix_space: a space put in front of each piece of text after normalization.</summary>
    public bool AddPrefixSpace { get; init; }

    /// <summary>Whether the model works on byte-level symbols (a ByteLevel pre-tokenizer); false for character-level BPE.</summary>
    public bool ByteLevel { get; init; } = true;

    /// <summary>The merges as (left, right) pairs in rank order (tokens of character-level models may hold spaces).</summary>
    public IReadOnlyList<(string Left, string Right)> MergePairs { get; init; } = [];

    /// <summary>model.unk_token, when set.</summary>
    public string? UnknownToken { get; init; }

    /// <summary>model.fuse_unk: consecutive unknown characters become one unknown token.</summary>
    public bool FuseUnknown { get; init; }

    /// <summary>model.byte_fallback: a character missing from the vocabulary becomes its bytes as "&lt;0xNN&gt;" tokens.</summary>
    public bool ByteFallback { get; init; }

    /// <summary>model.ignore_merges: a pre-tokenized word found in the vocabulary is one token, without merging.</summary>
    public bool IgnoreMerges { get; init; }

    /// <summary>The Metaspace pre-tokenizer, when the file's pre-tokenizer is one (character-level models only).</summary>
    public MetaspaceSettings? Metaspace { get; init; }

    /// <summary>The file's decoder (character-level models; byte-level models decode their bytes).</summary>
    public TokenDecoder? Decoder { get; init; }

    /// <summary>Optional prefix of non-initial subwords.</summary>
    public string? ContinuingSubwordPrefix { get; init; }

    /// <summary>Optional suffix of word-final subwords.</summary>
    public string? EndOfWordSuffix { get; init; }

    /// <summary>The document-separator token.</summary>
    public required string EndOfTextToken { get; init; }

    /// <summary>The id of <see cref="EndOfTextToken"/>.</summary>
    public required int EndOfTextId { get; init; }
}
