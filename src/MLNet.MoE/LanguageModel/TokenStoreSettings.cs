using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNet.MoE;

/// <summary>
/// What decides the bytes of a token store besides its input rows: the vocabulary, the split, the column read and the
/// chunk size. An unfinished export records them (<c>tokens.partial.json</c>) and is resumed only with equal settings,
/// so a resumed store is byte for byte the one an uninterrupted run writes.
/// </summary>
/// <param name="VocabSize">The tokenizer's vocabulary size.</param>
/// <param name="EndOfTextId">The id before every document.</param>
/// <param name="Tokenizer">The tokenizer's name.</param>
/// <param name="ValidationFraction">The fraction of documents held out.</param>
/// <param name="Seed">The seed of the held-out choice.</param>
/// <param name="SourceColumn">The column read.</param>
/// <param name="ChunkCharacters">Characters of text (or token ids) a chunk gathers before it is committed.</param>
internal sealed record TokenStoreSettings(int VocabSize, int EndOfTextId, string Tokenizer, double ValidationFraction, int Seed, string SourceColumn, int ChunkCharacters)
{
    /// <summary>The settings as JSON.</summary>
    public string ToJson() => new JsonObject
    {
        ["vocab_size"] = VocabSize,
        ["eos_token_id"] = EndOfTextId,
        ["tokenizer"] = Tokenizer,
        ["validation_fraction"] = ValidationFraction,
        ["seed"] = Seed,
        ["source_column"] = SourceColumn,
        ["chunk_characters"] = ChunkCharacters,
    }.ToJsonString();

    /// <summary>Reads settings written by <see cref="ToJson"/>.</summary>
    /// <exception cref="InvalidDataException">The file is damaged; the message names it.</exception>
    public static TokenStoreSettings Read(string path)
    {
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"'{path}' is not a JSON object.");
            T Field<T>(string name) => json[name] is { } node ? node.GetValue<T>() : throw new InvalidDataException($"The unfinished token export's settings '{path}' have no '{name}' field; export again with TokenExportOptions.Resume = false.");
            return new TokenStoreSettings(Field<int>("vocab_size"), Field<int>("eos_token_id"), Field<string>("tokenizer"),
                Field<double>("validation_fraction"), Field<int>("seed"), Field<string>("source_column"), Field<int>("chunk_characters"));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"The unfinished token export's settings '{path}' are damaged ({MessageText.Printable(e.Message)}); export again with TokenExportOptions.Resume = false.", e);
        }
    }
}
