namespace MLNet.MoE;

/// <summary>What one scoring pass measured, one entry per row of the <see cref="ScoringBatch"/>.</summary>
/// <param name="CrossEntropy">Summed next-token cross-entropy of the row's valid positions, in nats.</param>
/// <param name="Correct">Valid positions whose target was the most likely id.</param>
internal sealed record RowScores(double[] CrossEntropy, long[] Correct);
