namespace MLNet.MoE;

/// <summary>
/// The public pre-tokenization regular expressions of GPT-2 and the OpenAI tiktoken encodings
/// (from openai/gpt-2 encoder.py and openai/tiktoken openai_public.py, written for .NET's regex engine).
/// Microsoft.ML.Tokenizers keeps its copies internal, so they are repeated here.
/// </summary>
internal static class PreTokenizerPatterns
{
    /// <summary>GPT-2 (r50k) and the Hugging Face ByteLevel pre-tokenizer.</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>cl100k_base.</summary>
    public const string Cl100kBase = @"'(?i:[sdmt]|ll|ve|re)|(?>[^\r\n\p{L}\p{N}]?)(?>\p{L}+)|(?>\p{N}{1,3})| ?(?>[^\s\p{L}\p{N}]+)(?>[\r\n]*)|(?>\s+)$|\s*[\r\n]|\s+(?!\S)|\s";

    /// <summary>o200k_base.</summary>
    public const string O200kBase = @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
}
