
namespace MLNet.MoE;

/// <summary>Options of <see cref="MoeCatalog.ExportTokens"/>.</summary>
public sealed class TokenExportOptions
{
    /// <summary>The token-id column (made by <c>TokenizeForMoe</c>). Default "Tokens".</summary>
    public string TokenColumnName { get; set; } = "Tokens";

    /// <summary>The tokenizer; default: the one the token column carries.</summary>
    public MoeTokenizer? Tokenizer { get; set; }

    /// <summary>Fraction of documents (rows) held out as the validation stream, in [0, 0.5]. Default 0.05, as the language-model trainer.</summary>
    public double ValidationFraction { get; set; } = 0.05;

    /// <summary>Seed of the validation choice; default the MLContext's seed (1 when it has none), as the trainer, so both hold out the same rows.</summary>
    public int? Seed { get; set; }

    /// <summary>Also writes the tokenizer (<c>mlnet_moe_tokenizer.bin</c>, plus Hugging Face's <c>tokenizer.json</c> and <c>tokenizer_config.json</c> for byte-level and Hugging Face tokenizers) into the folder. Default true.</summary>
    public bool IncludeTokenizer { get; set; } = true;
}
