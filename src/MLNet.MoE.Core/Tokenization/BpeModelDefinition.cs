using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>Everything needed to build a byte-level <see cref="BpeTokenizer"/>, as parsed from vocab.json + merges.txt or tokenizer.json.</summary>
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

    /// <summary>Optional text normalization before pre-tokenization.</summary>
    public Normalizer? Normalizer { get; init; }

    /// <summary>Optional prefix of non-initial subwords.</summary>
    public string? ContinuingSubwordPrefix { get; init; }

    /// <summary>Optional suffix of word-final subwords.</summary>
    public string? EndOfWordSuffix { get; init; }

    /// <summary>The document-separator token.</summary>
    public required string EndOfTextToken { get; init; }

    /// <summary>The id of <see cref="EndOfTextToken"/>.</summary>
    public required int EndOfTextId { get; init; }
}
