using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;

/// <summary>What one run of the job did.</summary>
internal sealed record ScoringResult(long RowsScored, long RowsSkipped, TimeSpan Elapsed);

/// <summary>
/// Streams the input through the model and appends one output line per input row: the row's id, then the language
/// model's Score (mean cross-entropy, nats/token), Perplexity and TokenCount. Only a cursor over the input is held, so
/// memory stays flat however large the file.
/// </summary>
internal sealed class ScoringJob(MLContext ml, BatchScoringArguments arguments)
{
    /// <summary>Test hook: the process dies (Environment.FailFast) after scoring this many rows, as in a crash.</summary>
    public const string CrashAfterVariable = "MLNET_MOE_BATCHSCORING_CRASH_AFTER_ROWS";

    private static readonly string[] ScoreColumns = ["Score", "Perplexity", "TokenCount"];

    public ScoringResult Run()
    {
        if (!File.Exists(arguments.ModelPath)) throw new FileNotFoundException($"Model '{arguments.ModelPath}' does not exist.", arguments.ModelPath);
        if (!File.Exists(arguments.InputPath)) throw new FileNotFoundException($"Input '{arguments.InputPath}' does not exist.", arguments.InputPath);

        ITransformer model = ml.Model.Load(arguments.ModelPath, out DataViewSchema modelInput);
        IDataView input = InputFile.Load(ml, arguments.InputPath, out IReadOnlyList<string> header);
        foreach (var column in modelInput)
        {
            if (!header.Contains(column.Name))
                throw new InvalidDataException($"Input '{arguments.InputPath}' has no column '{column.Name}', which model '{arguments.ModelPath}' reads (the input's header: {string.Join(", ", header)}).");
        }
        if (arguments.IdColumn != null && !header.Contains(arguments.IdColumn))
            throw new InvalidDataException($"Input '{arguments.InputPath}' has no id column '{arguments.IdColumn}' (the input's header: {string.Join(", ", header)}).");

        IDataView scored = model.Transform(input);
        var outputColumns = ScoreColumns.Select(name => scored.Schema.GetColumnOrNull(name)
            ?? throw new InvalidDataException($"Model '{arguments.ModelPath}' adds no '{name}' column: it is not an MLNet.MoE language model.")).ToArray();
        DataViewSchema.Column? idColumn = arguments.IdColumn == null ? null : scored.Schema[arguments.IdColumn];

        string outputHeader = string.Join('\t', [arguments.IdColumn ?? "Row", .. ScoreColumns]);
        string partialPath = arguments.OutputPath + ".partial";
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(arguments.OutputPath))!);
        PartialOutput done = PartialOutput.Recover(partialPath, outputHeader);
        if (done.Rows > 0) Console.WriteLine($"Resuming: {done.Rows:N0} rows are already in {partialPath}.");

        long total = InputFile.CountRows(arguments.InputPath);
        long crashAfter = long.TryParse(Environment.GetEnvironmentVariable(CrashAfterVariable), out long n) ? n : long.MaxValue;
        var clock = Stopwatch.StartNew();
        var progress = new ProgressLine(total, done.Rows);
        long row = 0, scoredRows = 0;

        using (var cursor = scored.GetRowCursor(outputColumns.Append(idColumn ?? outputColumns[0])))
        using (var stream = new FileStream(partialPath, FileMode.Append, FileAccess.Write, FileShare.Read))
        using (var writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\n" })
        {
            var scores = outputColumns.Select(c => cursor.GetGetter<float>(c)).ToArray();
            var id = idColumn is { } idc ? cursor.GetGetter<ReadOnlyMemory<char>>(idc) : null;
            ReadOnlyMemory<char> idValue = default;
            float value = 0;
            if (done.Rows == 0) writer.WriteLine(outputHeader);

            // Rows already written are skipped: moving the cursor reads and parses them, but nothing scores them
            // (the model's columns are computed only when their getters are called).
            for (; row < done.Rows; row++)
            {
                if (!cursor.MoveNext())
                    throw new InvalidDataException($"'{partialPath}' holds {done.Rows:N0} rows but input '{arguments.InputPath}' only {row:N0}: the input changed; delete the partial file to start over.");
            }
            if (done.Rows > 0)
            {
                string expected = id == null ? row.ToString(CultureInfo.InvariantCulture) : Clean(Read(id, ref idValue));
                if (expected != done.LastId)
                    throw new InvalidDataException($"'{partialPath}' ends with row '{done.LastId}' but row {row:N0} of input '{arguments.InputPath}' is '{expected}': the input changed; delete the partial file to start over.");
            }

            var line = new StringBuilder();
            while (cursor.MoveNext())
            {
                row++;
                line.Clear().Append(id == null ? row.ToString(CultureInfo.InvariantCulture) : Clean(Read(id, ref idValue)));
                foreach (var getter in scores)
                {
                    getter(ref value);
                    line.Append('\t').Append(value.ToString("R", CultureInfo.InvariantCulture));
                }
                writer.WriteLine(line);
                scoredRows++;
                if (scoredRows % arguments.FlushEvery == 0) writer.Flush(); // what a crash can lose: at most FlushEvery rows
                if (scoredRows >= crashAfter) Environment.FailFast($"Simulated crash after {scoredRows} rows ({CrashAfterVariable}).");
                progress.Update(done.Rows + scoredRows, scoredRows, clock.Elapsed);
            }
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        progress.Finish(done.Rows + scoredRows, scoredRows, clock.Elapsed);
        File.Move(partialPath, arguments.OutputPath, overwrite: true);
        return new ScoringResult(scoredRows, done.Rows, clock.Elapsed);
    }

    private static string Read(ValueGetter<ReadOnlyMemory<char>> getter, ref ReadOnlyMemory<char> value)
    {
        getter(ref value);
        return value.ToString();
    }

    /// <summary>Ids go into a TSV: tabs and line breaks inside them become spaces.</summary>
    private static string Clean(string id) => id.Replace('\t', ' ').Replace('\r', ' ').Replace('\n', ' ');
}
