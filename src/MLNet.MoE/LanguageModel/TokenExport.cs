using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLNet.MoE;

/// <summary>
/// Writes a token store (<see cref="TokenFile"/>) from a token-id column, or from a text column tokenized on several
/// threads (<see cref="TokenStoreBuilder"/>), with the tokenizer beside it: documents split into training and
/// validation as the language-model trainer splits them. What <c>mlContext.MoE().ExportTokens</c> does.
/// </summary>
internal static class TokenExport
{
    /// <summary>Exports <paramref name="data"/> into <paramref name="directory"/>.</summary>
    public static TokenFileInfo Export(IHostEnvironment env, IDataView data, string directory, TokenExportOptions options, Action<int>? beforeCommit = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(options);
        if (!(options.ValidationFraction >= 0 && options.ValidationFraction <= 0.5))
            throw new ArgumentOutOfRangeException(nameof(options), options.ValidationFraction, "TokenExportOptions.ValidationFraction must be between 0 and 0.5.");
        if (options.Workers < 1 || options.Workers > 1024)
            throw new ArgumentOutOfRangeException(nameof(options), options.Workers, "TokenExportOptions.Workers must be between 1 and 1,024.");
        if (options.ChunkCharacters < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.ChunkCharacters, "TokenExportOptions.ChunkCharacters must be positive.");
        DataViewSchema.Column column;
        MoeTokenizer tokenizer;
        bool text = options.TextColumnName != null;
        if (text)
        {
            column = SchemaChecks.RequireText(data.Schema, options.TextColumnName!, "Text");
            tokenizer = options.Tokenizer ?? throw new ArgumentNullException(nameof(options), $"TokenExportOptions.Tokenizer must be set to tokenize text column '{options.TextColumnName}'.");
        }
        else
        {
            column = SchemaChecks.RequireTokenIds(data.Schema, options.TokenColumnName, "Token");
            tokenizer = options.Tokenizer ?? TokenizerAnnotation.TryGet(column)
                ?? throw new InvalidOperationException($"Token column '{options.TokenColumnName}' carries no tokenizer: produce it with TokenizeForMoe, or set TokenExportOptions.Tokenizer.");
        }
        int seed = options.Seed ?? (env as IHostEnvironmentInternal)?.Seed ?? 1;
        var settings = new TokenStoreSettings(tokenizer.VocabularySize, tokenizer.EndOfTextId, tokenizer.Name, options.ValidationFraction, seed, column.Name, options.ChunkCharacters);
        using var channel = env.Register(nameof(TokenExport)).Start("Exporting tokens");
        TokenFileInfo info;
        using (var writer = TokenStoreWriter.Open(directory, settings, options.Resume))
        {
            writer.BeforeCommit = beforeCommit;
            info = new TokenStoreBuilder(channel, options, text ? tokenizer : null, tokenizer.VocabularySize).Build(data, column, writer, () =>
            {
                if (options.IncludeTokenizer) TokenizerFiles.Save(Path.GetFullPath(directory), tokenizer, int.MaxValue);
            });
        }
        return info;
    }
}
