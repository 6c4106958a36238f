namespace MLNet.MoE;

/// <summary>The kinds of tokenizer a <see cref="MoeTokenizer"/> can wrap; the byte values are part of the serialized format.</summary>
internal enum TokenizerKind : byte
{
    /// <summary>Raw UTF-8 bytes plus one end-of-text id.</summary>
    ByteLevel = 1,

    /// <summary>An OpenAI tiktoken encoding shipped in a Microsoft.ML.Tokenizers data package.</summary>
    Tiktoken = 2,

    /// <summary>GPT-2-style byte-level BPE read from vocab.json and merges.txt.</summary>
    BpeFiles = 3,

    /// <summary>BPE read from a Hugging Face tokenizer.json (byte-level or character-level).</summary>
    HuggingFaceJson = 4,
}
