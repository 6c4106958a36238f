namespace MLNet.MoE;

/// <summary>The small constants the training engine guards its arithmetic with.</summary>
internal static class TrainingNumerics
{
    /// <summary>AdamW's ε, added to the root of the second moment.</summary>
    public const double AdamEpsilon = 1e-8;

    /// <summary>Added to the gradient norm before the clipping scale <c>clip / norm</c> is taken (a zero gradient stays unscaled).</summary>
    public const double ClipNormEpsilon = 1e-6;

    /// <summary>The shortest time a throughput is divided by, in seconds (a window measured as zero long reports a finite rate).</summary>
    public const double MinimumSeconds = 1e-9;
}
