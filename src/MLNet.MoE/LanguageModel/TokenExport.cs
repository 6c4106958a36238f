using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLNet.MoE;

/// <summary>
/// Writes a token-id column as the scale-out token files (<see cref="TokenFile"/>): the rows read and packed into
/// training and validation streams as the language-model trainer packs them, and the tokenizer beside them. What
/// <c>mlContext.MoE().ExportTokens</c> does.
/// </summary>
internal static class TokenExport
{
    /// <summary>Exports <paramref name="data"/>'s token column into <paramref name="directory"/>.</summary>
    public static TokenFileInfo Export(IHostEnvironment env, IDataView data, string directory, TokenExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!(options.ValidationFraction >= 0 && options.ValidationFraction <= 0.5))
            throw new ArgumentOutOfRangeException("options", options.ValidationFraction, "TokenExportOptions.ValidationFraction must be between 0 and 0.5.");
        var column = SchemaChecks.RequireTokenIds(data.Schema, options.TokenColumnName, "Token");
        MoeTokenizer tokenizer = options.Tokenizer ?? TokenizerAnnotation.TryGet(column)
            ?? throw new InvalidOperationException($"Token column '{options.TokenColumnName}' carries no tokenizer: produce it with TokenizeForMoe, or set TokenExportOptions.Tokenizer.");
        int seed = options.Seed ?? (env as IHostEnvironmentInternal)?.Seed ?? 1;
        var (documents, _) = TokenDocumentReader.Read(data, column, tokenizer.VocabularySize);
        if (documents.Count == 0) throw new InvalidOperationException($"Column '{options.TokenColumnName}' holds no tokens: every row is empty.");
        var corpus = TokenCorpus.Pack(documents, tokenizer.EndOfTextId, options.ValidationFraction, seed);
        var info = TokenFile.Write(directory, corpus, tokenizer.VocabularySize, tokenizer.EndOfTextId, tokenizer.Name, options.ValidationFraction, seed, options.TokenColumnName);
        if (options.IncludeTokenizer) TokenizerFiles.Save(Path.GetFullPath(directory), tokenizer, int.MaxValue);
        return info;
    }
}
