namespace MLNet.MoE;

/// <summary>
/// Rows of equal length for one scoring pass: inputs and next-token targets, [rows × length] row-major, and per row how
/// many leading positions count (the rest is right padding: with causal attention a row's valid positions never see it).
/// </summary>
/// <param name="Inputs">Input ids, rows × length.</param>
/// <param name="Targets">Target ids, rows × length (any valid id at padded positions).</param>
/// <param name="Rows">Rows in the pass.</param>
/// <param name="Length">Positions per row.</param>
/// <param name="ValidLengths">Leading positions of each row that are scored.</param>
internal sealed record ScoringBatch(long[] Inputs, long[] Targets, int Rows, int Length, int[] ValidLengths);
