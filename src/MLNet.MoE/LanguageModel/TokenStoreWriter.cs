using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;

namespace MLNet.MoE;

/// <summary>
/// Writes a token store (<see cref="TokenFile"/>) chunk by chunk so that a killed export resumes where it stopped.
/// Each chunk's ids and index entries are appended to the four data files and flushed to disk, then one 64-byte record
/// (the chunk's counts and checksum, itself checksummed) is appended to <c>tokens.journal</c> and flushed: that record
/// is the chunk's commit. A resumed writer keeps the committed chunks, cuts every file back to their end (dropping
/// what a killed chunk had half written) and continues; <see cref="Complete"/> writes the header atomically and
/// removes the journal. Documents are split by <see cref="TokenSplitRule"/> on their position, so the files do not
/// depend on where a run was interrupted.
/// </summary>
internal sealed class TokenStoreWriter : IDisposable
{
    /// <summary>The settings of an unfinished export.</summary>
    public const string SettingsFileName = "tokens.partial.json";

    /// <summary>The commit records of an unfinished export.</summary>
    public const string JournalFileName = "tokens.journal";

    private const int RecordBytes = 64;

    private readonly string directory;
    private readonly TokenStoreSettings settings;
    private readonly int bytesPerToken;
    private readonly FileStream train, validation, trainIndex, validationIndex, journal;
    private readonly List<TokenFileChunk> chunks;
    private readonly ArrayBufferWriter<byte> trainBytes = new(), validationBytes = new(), trainIndexBytes = new(), validationIndexBytes = new();
    private TokenStoreChecksum.Start end;
    private long rows;

    private TokenStoreWriter(string directory, TokenStoreSettings settings, List<TokenFileChunk> committed)
    {
        this.directory = directory;
        this.settings = settings;
        bytesPerToken = TokenFile.DTypeFor(settings.VocabSize) == "uint16" ? 2 : 4;
        chunks = committed;
        foreach (var chunk in committed)
        {
            end = end.After(chunk);
            rows += chunk.Rows;
        }
        train = OpenAt(TokenFile.TrainFileName, end.TrainTokens * bytesPerToken);
        validation = OpenAt(TokenFile.ValidationFileName, end.ValidationTokens * bytesPerToken);
        trainIndex = OpenAt(TokenFile.TrainIndexFileName, end.TrainDocuments * 8);
        validationIndex = OpenAt(TokenFile.ValidationIndexFileName, end.ValidationDocuments * 8);
        journal = OpenAt(JournalFileName, (long)committed.Count * RecordBytes);
    }

    /// <summary>Input rows the committed chunks consumed: a resumed export skips this many rows.</summary>
    public long CommittedRows => rows;

    /// <summary>Chunks committed so far.</summary>
    public int CommittedChunks => chunks.Count;

    /// <summary>Documents committed so far.</summary>
    public long Documents => end.TrainDocuments + end.ValidationDocuments;

    /// <summary>Token ids committed so far (both splits).</summary>
    public long Tokens => end.TrainTokens + end.ValidationTokens;

    /// <summary>Called with the chunk's number after its bytes are on disk and before its commit record is (a test's simulated kill).</summary>
    internal Action<int>? BeforeCommit { get; set; }

    /// <summary>
    /// Opens a writer on <paramref name="directory"/> (created when missing). A complete store there loses its header at
    /// once, so the folder never looks complete while it is rewritten. With <paramref name="resume"/>, an unfinished
    /// export with equal settings is continued; otherwise the folder's data files are started afresh.
    /// </summary>
    /// <exception cref="InvalidOperationException">An unfinished export with other settings is there (and <paramref name="resume"/> is set); the message names the setting.</exception>
    public static TokenStoreWriter Open(string directory, TokenStoreSettings settings, bool resume)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string full = Path.GetFullPath(directory);
        Directory.CreateDirectory(full);
        File.Delete(Path.Combine(full, TokenFile.HeaderFileName));
        string settingsPath = Path.Combine(full, SettingsFileName);
        string journalPath = Path.Combine(full, JournalFileName);
        if (resume && File.Exists(settingsPath) && File.Exists(journalPath))
        {
            var saved = TokenStoreSettings.Read(settingsPath);
            if (saved != settings)
                throw new InvalidOperationException($"'{full}' holds an unfinished token export made with other settings ({Difference(saved, settings)}): export with the same tokenizer, column, ValidationFraction, Seed and ChunkCharacters to resume it, or set TokenExportOptions.Resume = false to start over.");
            var committed = ReadJournal(journalPath);
            CheckDataCovers(full, committed, settings);
            return new TokenStoreWriter(full, settings, committed);
        }
        foreach (string name in new[] { JournalFileName, TokenFile.TrainFileName, TokenFile.ValidationFileName, TokenFile.TrainIndexFileName, TokenFile.ValidationIndexFileName })
            File.Delete(Path.Combine(full, name));
        AtomicFile.WriteAllText(settingsPath, settings.ToJson());
        return new TokenStoreWriter(full, settings, []);
    }

    /// <summary>
    /// Appends and commits one chunk: <paramref name="documents"/> (non-empty, in input order) read from
    /// <paramref name="inputRows"/> rows of the input.
    /// </summary>
    /// <exception cref="InvalidOperationException">An id is not below the vocabulary size.</exception>
    public void Append(long inputRows, IReadOnlyList<int[]> documents)
    {
        trainBytes.ResetWrittenCount();
        validationBytes.ResetWrittenCount();
        trainIndexBytes.ResetWrittenCount();
        validationIndexBytes.ResetWrittenCount();
        long trainTokens = 0, trainDocuments = 0, validationTokens = 0, validationDocuments = 0;
        long document = Documents;
        foreach (int[] ids in documents)
        {
            bool held = TokenSplitRule.IsValidation(document++, settings.ValidationFraction, settings.Seed);
            if (held)
            {
                WriteIndex(validationIndexBytes, end.ValidationTokens + validationTokens);
                WriteIds(validationBytes, ids);
                validationTokens += ids.Length + 1;
                validationDocuments++;
            }
            else
            {
                WriteIndex(trainIndexBytes, end.TrainTokens + trainTokens);
                WriteIds(trainBytes, ids);
                trainTokens += ids.Length + 1;
                trainDocuments++;
            }
        }
        var hash = new XxHash3();
        hash.Append(trainBytes.WrittenSpan);
        hash.Append(validationBytes.WrittenSpan);
        hash.Append(trainIndexBytes.WrittenSpan);
        hash.Append(validationIndexBytes.WrittenSpan);
        var chunk = new TokenFileChunk(inputRows, trainTokens, trainDocuments, validationTokens, validationDocuments, hash.GetCurrentHashAsUInt64());
        train.Write(trainBytes.WrittenSpan);
        validation.Write(validationBytes.WrittenSpan);
        trainIndex.Write(trainIndexBytes.WrittenSpan);
        validationIndex.Write(validationIndexBytes.WrittenSpan);
        foreach (var file in new[] { train, validation, trainIndex, validationIndex }) file.Flush(flushToDisk: true);
        BeforeCommit?.Invoke(chunks.Count);
        Commit(chunk);
    }

    /// <summary>
    /// Finishes the store: holds out the last document when the rule chose none (<see cref="TokenSplitRule.HoldOutLast"/>),
    /// writes the header atomically and removes the journal. Returns the header.
    /// </summary>
    public TokenFileInfo Complete()
    {
        if (TokenSplitRule.HoldOutLast(Documents, end.ValidationDocuments, settings.ValidationFraction)) HoldOutLastDocument();
        foreach (var file in new[] { train, validation, trainIndex, validationIndex }) file.Flush(flushToDisk: true);
        string dtype = TokenFile.DTypeFor(settings.VocabSize);
        var info = new TokenFileInfo
        {
            Format = TokenFile.FormatName,
            Version = TokenFile.CurrentVersion,
            DType = dtype,
            VocabSize = settings.VocabSize,
            EndOfTextId = settings.EndOfTextId,
            Tokenizer = settings.Tokenizer,
            Train = new TokenFileSplit(TokenFile.TrainFileName, end.TrainTokens, end.TrainDocuments) { IndexFile = TokenFile.TrainIndexFileName },
            Validation = new TokenFileSplit(TokenFile.ValidationFileName, end.ValidationTokens, end.ValidationDocuments) { IndexFile = TokenFile.ValidationIndexFileName },
            ValidationFraction = settings.ValidationFraction,
            Seed = settings.Seed,
            SourceColumn = settings.SourceColumn,
        };
        info = info with { Identity = TokenFile.Identity(info, chunks) };
        AtomicFile.WriteAllText(Path.Combine(directory, TokenFile.HeaderFileName), TokenFile.ToJson(info, chunks));
        Dispose();
        File.Delete(Path.Combine(directory, JournalFileName));
        File.Delete(Path.Combine(directory, SettingsFileName));
        return info;
    }

    /// <summary>Closes the files and deletes everything the export wrote (the input held nothing to store).</summary>
    public void Abandon()
    {
        Dispose();
        foreach (string name in new[] { SettingsFileName, JournalFileName, TokenFile.TrainFileName, TokenFile.ValidationFileName, TokenFile.TrainIndexFileName, TokenFile.ValidationIndexFileName })
            File.Delete(Path.Combine(directory, name));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var file in new[] { train, validation, trainIndex, validationIndex, journal }) file.Dispose();
    }

    private void WriteIds(ArrayBufferWriter<byte> target, int[] ids)
    {
        var span = target.GetSpan((ids.Length + 1) * bytesPerToken);
        Put(span, 0, settings.EndOfTextId);
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)settings.VocabSize)
                throw new InvalidOperationException($"Token id {id} of document {Documents} is not below the vocabulary size {settings.VocabSize}.");
            Put(span, i + 1, id);
        }
        target.Advance((ids.Length + 1) * bytesPerToken);
    }

    private void Put(Span<byte> span, int index, int id)
    {
        if (bytesPerToken == 2) BinaryPrimitives.WriteUInt16LittleEndian(span[(2 * index)..], (ushort)id);
        else BinaryPrimitives.WriteUInt32LittleEndian(span[(4 * index)..], (uint)id);
    }

    private static void WriteIndex(ArrayBufferWriter<byte> target, long offset)
    {
        BinaryPrimitives.WriteInt64LittleEndian(target.GetSpan(8), offset);
        target.Advance(8);
    }

    private void Commit(TokenFileChunk chunk)
    {
        Span<byte> record = stackalloc byte[RecordBytes];
        record.Clear();
        BinaryPrimitives.WriteInt64LittleEndian(record, chunk.Rows);
        BinaryPrimitives.WriteInt64LittleEndian(record[8..], chunk.TrainTokens);
        BinaryPrimitives.WriteInt64LittleEndian(record[16..], chunk.TrainDocuments);
        BinaryPrimitives.WriteInt64LittleEndian(record[24..], chunk.ValidationTokens);
        BinaryPrimitives.WriteInt64LittleEndian(record[32..], chunk.ValidationDocuments);
        BinaryPrimitives.WriteUInt64LittleEndian(record[40..], chunk.Checksum);
        BinaryPrimitives.WriteUInt64LittleEndian(record[56..], XxHash3.HashToUInt64(record[..56]));
        journal.Write(record);
        journal.Flush(flushToDisk: true);
        chunks.Add(chunk);
        end = end.After(chunk);
        rows += chunk.Rows;
    }

    /// <summary>The committed records: every whole record whose own checksum holds, up to the first that does not (a record a kill cut short).</summary>
    private static List<TokenFileChunk> ReadJournal(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var chunks = new List<TokenFileChunk>(bytes.Length / RecordBytes);
        for (int at = 0; at + RecordBytes <= bytes.Length; at += RecordBytes)
        {
            var record = bytes.AsSpan(at, RecordBytes);
            if (BinaryPrimitives.ReadUInt64LittleEndian(record[56..]) != XxHash3.HashToUInt64(record[..56])) break;
            chunks.Add(new TokenFileChunk(BinaryPrimitives.ReadInt64LittleEndian(record), BinaryPrimitives.ReadInt64LittleEndian(record[8..]),
                BinaryPrimitives.ReadInt64LittleEndian(record[16..]), BinaryPrimitives.ReadInt64LittleEndian(record[24..]),
                BinaryPrimitives.ReadInt64LittleEndian(record[32..]), BinaryPrimitives.ReadUInt64LittleEndian(record[40..])));
        }
        return chunks;
    }

    /// <summary>Refuses to resume when a data file is shorter than its committed chunks say (a file lost or cut outside the writer).</summary>
    private static void CheckDataCovers(string directory, List<TokenFileChunk> committed, TokenStoreSettings settings)
    {
        var end = new TokenStoreChecksum.Start();
        foreach (var chunk in committed) end = end.After(chunk);
        int bytesPerToken = TokenFile.DTypeFor(settings.VocabSize) == "uint16" ? 2 : 4;
        foreach (var (name, bytes) in new[] { (TokenFile.TrainFileName, end.TrainTokens * bytesPerToken), (TokenFile.ValidationFileName, end.ValidationTokens * bytesPerToken),
            (TokenFile.TrainIndexFileName, end.TrainDocuments * 8), (TokenFile.ValidationIndexFileName, end.ValidationDocuments * 8) })
        {
            string path = Path.Combine(directory, name);
            long length = File.Exists(path) ? new FileInfo(path).Length : -1;
            if (length < bytes)
                throw new InvalidDataException($"Token file '{path}' of an unfinished export holds {Math.Max(length, 0)} bytes, fewer than its {committed.Count} committed chunks wrote ({bytes}); export again with TokenExportOptions.Resume = false.");
        }
    }

    private static string Difference(TokenStoreSettings saved, TokenStoreSettings now)
    {
        var differences = new List<string>();
        if (saved.Tokenizer != now.Tokenizer || saved.VocabSize != now.VocabSize || saved.EndOfTextId != now.EndOfTextId) differences.Add($"tokenizer {saved.Tokenizer} there, {now.Tokenizer} now");
        if (saved.SourceColumn != now.SourceColumn) differences.Add($"column '{saved.SourceColumn}' there, '{now.SourceColumn}' now");
        if (saved.ValidationFraction != now.ValidationFraction) differences.Add($"ValidationFraction {saved.ValidationFraction} there, {now.ValidationFraction} now");
        if (saved.Seed != now.Seed) differences.Add($"Seed {saved.Seed} there, {now.Seed} now");
        if (saved.ChunkCharacters != now.ChunkCharacters) differences.Add($"ChunkCharacters {saved.ChunkCharacters} there, {now.ChunkCharacters} now");
        return string.Join("; ", differences);
    }

    /// <summary>Moves the last training document to the validation split and recomputes its chunk's checksum from the files.</summary>
    private void HoldOutLastDocument()
    {
        int k = chunks.FindLastIndex(c => c.TrainDocuments > 0);
        trainIndex.Flush();
        var lastStart = new byte[8];
        RandomAccess.Read(trainIndex.SafeFileHandle, lastStart, (end.TrainDocuments - 1) * 8);
        long start = BinaryPrimitives.ReadInt64LittleEndian(lastStart);
        long length = end.TrainTokens - start;
        train.Flush();
        var ids = new byte[length * bytesPerToken];
        RandomAccess.Read(train.SafeFileHandle, ids, start * bytesPerToken);
        train.SetLength(start * bytesPerToken);
        train.Seek(0, SeekOrigin.End);
        trainIndex.SetLength((end.TrainDocuments - 1) * 8);
        trainIndex.Seek(0, SeekOrigin.End);
        validation.Write(ids);
        validationIndex.Write(new byte[8]); // the document starts at 0: the validation split was empty
        foreach (var file in new[] { train, validation, trainIndex, validationIndex }) file.Flush(flushToDisk: true);
        var chunkStart = new TokenStoreChecksum.Start();
        for (int i = 0; i < k; i++) chunkStart = chunkStart.After(chunks[i]);
        var moved = chunks[k] with { TrainTokens = chunks[k].TrainTokens - length, TrainDocuments = chunks[k].TrainDocuments - 1, ValidationTokens = length, ValidationDocuments = 1 };
        using (var checksum = new TokenStoreChecksum(directory, bytesPerToken)) moved = moved with { Checksum = checksum.Of(moved, chunkStart) };
        chunks[k] = moved;
        end = new TokenStoreChecksum.Start();
        foreach (var chunk in chunks) end = end.After(chunk);
    }

    private FileStream OpenAt(string name, long length)
    {
        var stream = new FileStream(Path.Combine(directory, name), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 16);
        stream.SetLength(length);
        stream.Seek(0, SeekOrigin.End);
        return stream;
    }
}
