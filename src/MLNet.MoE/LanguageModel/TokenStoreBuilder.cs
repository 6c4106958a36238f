using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace MLNet.MoE;

/// <summary>
/// Streams an <see cref="IDataView"/> into a token store with bounded memory. One thread reads rows into chunks of
/// about <see cref="TokenExportOptions.ChunkCharacters"/> characters; <see cref="TokenExportOptions.Workers"/> threads
/// tokenize whole chunks, each with its own copy of the tokenizer; the calling thread commits the chunks to
/// <see cref="TokenStoreWriter"/> strictly in input order, so the files are the same for any number of workers. At most
/// Workers + 2 chunks are in memory at once. ML.NET has no parallel, ordered row pipeline of this kind, so it is written
/// here with a bounded queue and a semaphore.
/// </summary>
internal sealed class TokenStoreBuilder
{
    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(2);

    private readonly IChannel channel;
    private readonly TokenExportOptions options;
    private readonly MoeTokenizer? tokenizer;
    private readonly int vocabSize;

    /// <summary>A builder that tokenizes a text column with <paramref name="tokenizer"/>, or (null) reads a token column checked against <paramref name="vocabSize"/>.</summary>
    public TokenStoreBuilder(IChannel channel, TokenExportOptions options, MoeTokenizer? tokenizer, int vocabSize)
    {
        this.channel = channel;
        this.options = options;
        this.tokenizer = tokenizer;
        this.vocabSize = vocabSize;
    }

    private sealed class Chunk
    {
        public required int Number { get; init; }
        public required long FirstRow { get; init; }
        public long Rows { get; set; }
        public long Utf8Bytes { get; set; }
        public List<string>? Texts { get; set; }
        public List<int[]> Documents { get; set; } = new();
    }

    /// <summary>Writes the rows of <paramref name="column"/> through <paramref name="writer"/> and completes the store.</summary>
    /// <param name="data">The rows.</param>
    /// <param name="column">The text or token column read.</param>
    /// <param name="writer">The store's writer; a resumed one skips its committed rows.</param>
    /// <param name="beforeComplete">Runs after the last chunk is committed and before the header is written (the tokenizer files go beside the data then).</param>
    /// <param name="cancellation">Stops the export; committed chunks stay for a resume.</param>
    public TokenFileInfo Build(IDataView data, DataViewSchema.Column column, TokenStoreWriter writer, Action? beforeComplete = null, CancellationToken cancellation = default)
    {
        long skip = writer.CommittedRows;
        if (skip > 0)
            channel.Info(string.Format(CultureInfo.InvariantCulture, "Resuming the token export after {0} committed chunks: skipping {1:N0} rows ({2:N0} documents, {3:N0} tokens).",
                writer.CommittedChunks, skip, writer.Documents, writer.Tokens));
        long? totalRows = data.GetRowCount() ?? options.EstimatedRows;
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var token = failed.Token;
        int workers = tokenizer == null ? 1 : options.Workers;
        using var slots = new SemaphoreSlim(workers + 2);
        using var queue = new BlockingCollection<Chunk>(workers);
        var done = new Dictionary<int, Chunk>();
        int chunkCount = -1; // set by the reader when the input ends
        Exception? failure = null;
        void Fail(Exception e)
        {
            lock (done)
            {
                failure ??= e;
                Monitor.PulseAll(done);
            }
            failed.Cancel();
        }

        var reader = new Thread(() =>
        {
            try
            {
                int count = Read(data, column, skip, queue, slots, token);
                lock (done)
                {
                    chunkCount = count;
                    Monitor.PulseAll(done);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
            {
                Fail(e);
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                queue.CompleteAdding();
            }
        }) { IsBackground = true, Name = "Token export reader" };
        var tokenizers = Enumerable.Range(0, workers).Select(w => new Thread(() =>
        {
            try
            {
                var own = tokenizer == null ? null : MoeTokenizer.Deserialize(tokenizer.Serialize());
                foreach (var chunk in queue.GetConsumingEnumerable(token))
                {
                    if (own != null) Tokenize(chunk, own);
                    lock (done)
                    {
                        done[chunk.Number] = chunk;
                        Monitor.PulseAll(done);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Fail(e);
            }
        }) { IsBackground = true, Name = $"Token export worker {w}" }).ToList();
        reader.Start();
        tokenizers.ForEach(t => t.Start());

        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        long rowsThisRun = 0, bytesThisRun = 0;
        try
        {
            for (int next = 0; ; next++)
            {
                Chunk? chunk;
                lock (done)
                {
                    while (!done.TryGetValue(next, out chunk) && failure == null && chunkCount != next) Monitor.Wait(done);
                    if (failure != null) break;
                    if (chunk == null) break; // the input ended
                    done.Remove(next);
                }
                writer.Append(chunk.Rows, chunk.Documents);
                slots.Release();
                rowsThisRun += chunk.Rows;
                bytesThisRun += chunk.Utf8Bytes;
                if (clock.Elapsed - lastReport >= ReportEvery)
                {
                    lastReport = clock.Elapsed;
                    Report(writer, rowsThisRun, bytesThisRun, clock.Elapsed, totalRows, completed: false);
                }
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
        failed.Cancel();
        reader.Join();
        tokenizers.ForEach(t => t.Join());
        if (failure != null) ExceptionDispatchInfo.Capture(failure).Throw();
        cancellation.ThrowIfCancellationRequested();
        if (writer.Documents == 0)
        {
            writer.Abandon();
            throw new InvalidOperationException($"Column '{column.Name}' holds no tokens: every row is empty.");
        }
        beforeComplete?.Invoke();
        var info = writer.Complete();
        Report(writer, rowsThisRun, bytesThisRun, clock.Elapsed, totalRows, completed: true, info);
        return info;
    }

    /// <summary>Reads rows after the first <paramref name="skip"/> into chunks; returns the number of chunks.</summary>
    private int Read(IDataView data, DataViewSchema.Column column, long skip, BlockingCollection<Chunk> queue, SemaphoreSlim slots, CancellationToken token)
    {
        using var cursor = data.GetRowCursor(new[] { column });
        for (long r = 0; r < skip; r++)
        {
            if (!cursor.MoveNext())
                throw new InvalidOperationException($"The unfinished export committed {skip:N0} rows, but the data has only {r:N0}: resume with the same data, or set TokenExportOptions.Resume = false.");
            if ((r & 0xFFFF) == 0) token.ThrowIfCancellationRequested();
        }
        ValueGetter<ReadOnlyMemory<char>>? text = tokenizer != null ? cursor.GetGetter<ReadOnlyMemory<char>>(column) : null;
        ValueGetter<VBuffer<int>>? ids = tokenizer == null ? cursor.GetGetter<VBuffer<int>>(column) : null;
        ReadOnlyMemory<char> textValue = default;
        VBuffer<int> idsValue = default;
        long row = skip;
        int number = 0;
        bool more = true;
        while (more)
        {
            slots.Wait(token);
            var chunk = new Chunk { Number = number, FirstRow = row, Texts = tokenizer != null ? new List<string>() : null };
            long size = 0;
            while (size < options.ChunkCharacters && (more = cursor.MoveNext()))
            {
                chunk.Rows++;
                if (text != null)
                {
                    text(ref textValue);
                    string value = textValue.IsEmpty ? "" : textValue.ToString();
                    chunk.Texts!.Add(value);
                    chunk.Utf8Bytes += Encoding.UTF8.GetByteCount(value);
                    size += value.Length;
                }
                else
                {
                    ids!(ref idsValue);
                    if (idsValue.Length > 0)
                    {
                        int[] document = idsValue.DenseValues().ToArray();
                        foreach (int id in document)
                        {
                            if ((uint)id >= (uint)vocabSize)
                                throw new InvalidOperationException($"Row {row} of column '{column.Name}' holds token id {id}, outside the tokenizer's vocabulary (0..{vocabSize - 1}).");
                        }
                        chunk.Documents.Add(document);
                        size += document.Length;
                    }
                }
                row++;
            }
            if (chunk.Rows == 0)
            {
                slots.Release();
                break;
            }
            queue.Add(chunk, token);
            number++;
        }
        return number;
    }

    private static void Tokenize(Chunk chunk, MoeTokenizer own)
    {
        foreach (string text in chunk.Texts!)
        {
            if (text.Length == 0) continue;
            int[] ids = own.Encode(text);
            if (ids.Length > 0) chunk.Documents.Add(ids);
        }
        chunk.Texts = null;
    }

    private void Report(TokenStoreWriter writer, long rowsThisRun, long bytesThisRun, TimeSpan elapsed, long? totalRows, bool completed, TokenFileInfo? info = null)
    {
        double seconds = Math.Max(elapsed.TotalSeconds, 1e-9);
        double rowsPerSecond = rowsThisRun / seconds;
        TimeSpan? remaining = completed ? TimeSpan.Zero
            : totalRows is { } total && rowsPerSecond > 0 ? TimeSpan.FromSeconds(Math.Max(0, total - writer.CommittedRows) / rowsPerSecond) : null;
        var progress = new TokenExportProgress
        {
            Rows = writer.CommittedRows,
            Documents = writer.Documents,
            Tokens = writer.Tokens,
            Chunks = writer.CommittedChunks,
            Megabytes = bytesThisRun / 1e6,
            MegabytesPerSecond = bytesThisRun / 1e6 / seconds,
            RowsPerSecond = rowsPerSecond,
            Elapsed = elapsed,
            EstimatedRemaining = remaining,
            Completed = completed,
        };
        channel.Info(completed && info != null
            ? string.Format(CultureInfo.InvariantCulture, "Token store complete: {0:N0} rows, {1:N0} training tokens in {2:N0} documents, {3:N0} validation tokens in {4:N0} documents; {5:N1} MB of text at {6:N1} MB/s in {7:N1} s (identity {8}).",
                progress.Rows, info.Train.Tokens, info.Train.Documents, info.Validation.Tokens, info.Validation.Documents, progress.Megabytes, progress.MegabytesPerSecond, seconds, info.Identity)
            : string.Format(CultureInfo.InvariantCulture, "Token export: {0:N0} rows, {1:N0} tokens, {2:N1} MB at {3:N1} MB/s, {4:N0} rows/s, ETA {5}.",
                progress.Rows, progress.Tokens, progress.Megabytes, progress.MegabytesPerSecond, rowsPerSecond, remaining is { } r ? r.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "unknown"));
        options.Progress?.Report(progress);
    }
}
