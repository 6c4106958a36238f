// MLNet.MoE sample: the production batch-scoring job. Loads a model.zip, streams a large TSV/CSV through an IDataView
// (rows are read as they are scored, never the whole file in memory), writes the scored rows to OUTPUT.partial and
// renames it to OUTPUT at the end. After a crash, the same command resumes: rows already in OUTPUT.partial are skipped.
//
//   dotnet run --project samples/BatchScoring -c Release -- --model model.zip --input texts.tsv --output scored.tsv [--id-column Id]
//   --quick (or MLNET_MOE_SAMPLE_QUICK=1): trains a throwaway model and scores 400 generated rows, for CI.
// Exit codes: 0 done, 1 failed (the message says why; a partial output is kept for resuming), 2 bad arguments.
using Microsoft.ML;

BatchScoringArguments arguments;
try
{
    arguments = BatchScoringArguments.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(BatchScoringArguments.Usage);
    return 2;
}

try
{
    var ml = new MLContext(seed: 1);
    if (arguments.Quick) arguments = QuickSetup.Prepare(ml, arguments);
    var job = new ScoringJob(ml, arguments);
    ScoringResult result = job.Run();
    Console.WriteLine($"Scored {result.RowsScored:N0} rows in {result.Elapsed.TotalSeconds:F1} s ({result.RowsSkipped:N0} skipped as already scored); wrote {arguments.OutputPath}.");
    return 0;
}
catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or ArgumentException or UnauthorizedAccessException or FormatException)
{
    Console.Error.WriteLine();
    Console.Error.WriteLine("Batch scoring failed: " + e.Message);
    return 1;
}
