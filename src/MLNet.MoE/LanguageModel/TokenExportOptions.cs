
namespace MLNet.MoE;

/// <summary>Options of <see cref="MoeCatalog.ExportTokens"/>, which writes a token store.</summary>
public sealed class TokenExportOptions
{
    /// <summary>
    /// The token-id column (made by <c>TokenizeForMoe</c>) read when <see cref="TextColumnName"/> is not set; also the
    /// name of the column <see cref="MoeCatalog.LoadTokens"/> shows by default. Default "Tokens".
    /// </summary>
    public string TokenColumnName { get; set; } = "Tokens";

    /// <summary>
    /// A text column to tokenize (with <see cref="Tokenizer"/>) on <see cref="Workers"/> threads while the rows stream
    /// in, instead of reading a token column: the way to tokenize a corpus larger than memory. Default null.
    /// </summary>
    public string? TextColumnName { get; set; }

    /// <summary>The tokenizer; default: the one the token column carries. Required with <see cref="TextColumnName"/>.</summary>
    public MoeTokenizer? Tokenizer { get; set; }

    /// <summary>Fraction of documents (rows) held out as the validation stream, in [0, 0.5]. Default 0.05, as the language-model trainer.</summary>
    public double ValidationFraction { get; set; } = 0.05;

    /// <summary>Seed of the validation choice; default the MLContext's seed (1 when it has none), as the trainer, so both hold out the same rows.</summary>
    public int? Seed { get; set; }

    /// <summary>Also writes the tokenizer (<c>mlnet_moe_tokenizer.bin</c>, plus Hugging Face's <c>tokenizer.json</c> and <c>tokenizer_config.json</c> for byte-level and Hugging Face tokenizers) into the folder. Default true.</summary>
    public bool IncludeTokenizer { get; set; } = true;

    /// <summary>Threads that tokenize <see cref="TextColumnName"/>, each with its own copy of the tokenizer. The files do not depend on it. Default: the processor count.</summary>
    public int Workers { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// Characters of text (token ids for a token column) gathered into one chunk: the unit tokenized by one worker,
    /// committed to disk, and kept after a kill. Memory holds about Workers + 2 chunks. Part of what decides the files,
    /// so a resume needs the same value. Default 4,194,304.
    /// </summary>
    public int ChunkCharacters { get; set; } = 1 << 22;

    /// <summary>
    /// Continue an unfinished export in the folder (one that was killed or failed): committed chunks are kept and their
    /// rows skipped, so nothing is tokenized twice and no document is lost or repeated. The data and settings must be
    /// the same. False starts over. Default true.
    /// </summary>
    public bool Resume { get; set; } = true;

    /// <summary>The number of input rows, for the progress reports' estimate of the time left when the data view does not know it (a text file's loader does not). Default null.</summary>
    public long? EstimatedRows { get; set; }

    /// <summary>Receives a report every few seconds and at the end; the same lines go to the MLContext's log. Default null.</summary>
    public IProgress<TokenExportProgress>? Progress { get; set; }
}
