namespace MLNet.MoE;

/// <summary>The engine behind a <see cref="MoeTokenizer"/>: one subclass per <see cref="TokenizerKind"/>.</summary>
internal abstract class TokenizerBackend
{
    /// <summary>1 + the largest id the backend can return or decode.</summary>
    public abstract int VocabularySize { get; }

    /// <summary>The id that separates documents.</summary>
    public abstract int EndOfTextId { get; }

    /// <summary>The text of the end-of-text token.</summary>
    public abstract string EndOfTextToken { get; }

    /// <summary>Encodes plain text: special-token text in the input stays ordinary text.</summary>
    public abstract int[] Encode(string text);

    /// <summary>Encodes text; with <paramref name="specialTokens"/>, special-token text in the input becomes special ids where the backend knows its special tokens.</summary>
    public virtual int[] Encode(string text, bool specialTokens) => Encode(text);

    /// <summary>Whether <paramref name="id"/> maps to a token.</summary>
    public abstract bool HasToken(int id);

    /// <summary>Decodes ids already checked with <see cref="HasToken"/>.</summary>
    public abstract string DecodeChecked(IReadOnlyList<int> ids);
}
