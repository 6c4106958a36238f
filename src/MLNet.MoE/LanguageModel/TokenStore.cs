using System.Globalization;
using System.Runtime.ExceptionServices;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// A token store opened for training (<c>mlContext.MoE().LoadTokens</c>): its header, and its training and validation
/// id files memory-mapped. As an <see cref="IDataView"/> it shows the training documents, one row each, in a token-id
/// column that carries the store's tokenizer; passed to the language-model trainer's <c>Fit</c>, it is not read row by
/// row: the trainer samples its windows straight from the map and scores the store's own validation split. Dispose it
/// when training is done, to release the maps.
/// </summary>
public sealed class TokenStore : IDataView, IDisposable
{
    private readonly MoeTokenizer? tokenizer;
    private readonly IReadOnlyList<TokenFileChunk> chunks;

    private TokenStore(string directory, TokenFileInfo info, IReadOnlyList<TokenFileChunk> chunks, MoeTokenizer? tokenizer, string tokenColumnName)
    {
        Directory = directory;
        Info = info;
        this.chunks = chunks;
        this.tokenizer = tokenizer;
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(tokenColumnName, new VectorDataViewType(NumberDataViewType.Int32), tokenizer == null ? null : TokenizerAnnotation.Create(tokenizer));
        Schema = builder.ToSchema();
        Training = new MappedTokenSplit(Path.Combine(directory, info.Train.File), info.Train.Tokens, info.BytesPerToken, info.VocabSize);
        Validation = new MappedTokenSplit(Path.Combine(directory, info.Validation.File), info.Validation.Tokens, info.BytesPerToken, info.VocabSize);
    }

    /// <summary>The store's folder (full path).</summary>
    public string Directory { get; }

    /// <summary>The store's header: counts, dtype, tokenizer name, split settings and identity.</summary>
    public TokenFileInfo Info { get; }

    /// <summary>The tokenizer saved in the folder (<c>mlnet_moe_tokenizer.bin</c> or <c>tokenizer.json</c>), or null when there is none.</summary>
    public MoeTokenizer? Tokenizer => tokenizer;

    /// <summary>The rows' schema: one token-id column (vector of Int32).</summary>
    public DataViewSchema Schema { get; }

    /// <summary>False: rows come in stored order.</summary>
    public bool CanShuffle => false;

    internal MappedTokenSplit Training { get; }

    internal MappedTokenSplit Validation { get; }

    /// <summary>The identity a training checkpoint records: the training stream's length and the store's identity hash.</summary>
    internal DataFingerprint Fingerprint => new(Info.Train.Tokens, ulong.Parse(Info.Identity!, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));

    /// <summary>
    /// Opens the store in <paramref name="directory"/>: checks the header, the files' lengths and, with
    /// <paramref name="verifyChecksums"/>, every chunk's checksum (one read of the whole store).
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder has no header, or a file it names is missing.</exception>
    /// <exception cref="InvalidDataException">A file is damaged or has the wrong length; the message names it.</exception>
    internal static TokenStore Open(string directory, string tokenColumnName, bool verifyChecksums)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(tokenColumnName);
        string full = Path.GetFullPath(directory);
        var (info, chunks) = TokenFile.ReadManifest(full);
        if (info.Version < 2)
            throw new InvalidDataException($"Token file folder '{full}' is version {info.Version}, without document index or checksums: write it again with mlContext.MoE().ExportTokens to train from it.");
        foreach (var split in new[] { info.Train, info.Validation })
        {
            TokenFile.CheckLength(Path.Combine(full, split.File), split.Tokens * info.BytesPerToken, $"{split.Tokens} {info.DType} ids");
            TokenFile.CheckLength(Path.Combine(full, split.IndexFile!), split.Documents * 8, $"{split.Documents} int64 document starts");
        }
        if (verifyChecksums) Verify(full, info, chunks);
        MoeTokenizer? tokenizer = TokenizerFiles.TryLoad(full);
        if (tokenizer != null && (tokenizer.VocabularySize != info.VocabSize || tokenizer.EndOfTextId != info.EndOfTextId))
            throw new InvalidDataException($"The tokenizer in '{full}' ({tokenizer.Name}, {tokenizer.VocabularySize} ids, end of text {tokenizer.EndOfTextId}) is not the one {TokenFile.HeaderFileName} names ({info.Tokenizer}, {info.VocabSize} ids, end of text {info.EndOfTextId}).");
        return new TokenStore(full, info, chunks, tokenizer, tokenColumnName);
    }

    /// <summary>Training documents.</summary>
    public long? GetRowCount() => Info.Train.Documents;

    /// <summary>A cursor over the training documents, in stored order (<paramref name="rand"/> is ignored).</summary>
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        ArgumentNullException.ThrowIfNull(columnsNeeded);
        bool active = columnsNeeded.Any(c => c.Index == 0);
        return new TokenStoreCursor(this, Path.Combine(Directory, Info.Train.IndexFile!), active);
    }

    /// <summary>One cursor (see <see cref="GetRowCursor"/>).</summary>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        new[] { GetRowCursor(columnsNeeded, rand) };

    /// <summary>Releases the memory maps.</summary>
    public void Dispose()
    {
        Training.Dispose();
        Validation.Dispose();
    }

    /// <summary>Reads every chunk once and compares its checksum, on every core.</summary>
    private static void Verify(string directory, TokenFileInfo info, IReadOnlyList<TokenFileChunk> chunks)
    {
        var starts = new TokenStoreChecksum.Start[chunks.Count];
        var start = new TokenStoreChecksum.Start();
        for (int i = 0; i < chunks.Count; i++)
        {
            starts[i] = start;
            start = start.After(chunks[i]);
        }
        try
        {
            Parallel.For(0, chunks.Count, () => new TokenStoreChecksum(directory, info.BytesPerToken), (i, _, checksum) =>
        {
            if (checksum.Of(chunks[i], starts[i]) != chunks[i].Checksum)
            {
                var c = chunks[i];
                var s = starts[i];
                string Range(string file, long from, long count, int size) => count == 0 ? "" : $" '{Path.Combine(directory, file)}' bytes {from * size:N0} to {(from + count) * size:N0};";
                throw new InvalidDataException($"Token store '{directory}' is damaged: chunk {i} fails its {TokenFile.ChecksumName} checksum. It covers" +
                    Range(info.Train.File, s.TrainTokens, c.TrainTokens, info.BytesPerToken) + Range(info.Validation.File, s.ValidationTokens, c.ValidationTokens, info.BytesPerToken) +
                    Range(info.Train.IndexFile!, s.TrainDocuments, c.TrainDocuments, 8) + Range(info.Validation.IndexFile!, s.ValidationDocuments, c.ValidationDocuments, 8) +
                    " export the store again.");
            }
            return checksum;
        }, checksum => checksum.Dispose());
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }
}
