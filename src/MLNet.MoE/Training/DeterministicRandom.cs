namespace MLNet.MoE;

/// <summary>
/// A small seeded random generator (SplitMix64) whose whole state is one number, so a training checkpoint can save it
/// and a resumed run draws exactly the batches the uninterrupted run would have (System.Random cannot be saved).
/// </summary>
internal sealed class DeterministicRandom
{
    /// <summary>Creates a generator from a seed.</summary>
    public DeterministicRandom(long seed) => State = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL);

    /// <summary>The generator's state; set it to continue a saved sequence.</summary>
    public ulong State { get; set; }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        unchecked
        {
            ulong z = State += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>).</summary>
    public int Next(int maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentOutOfRangeException(nameof(maxExclusive), maxExclusive, "must be positive");
        // Lemire's multiply-shift: the high 32 bits of (32 random bits × range).
        return (int)(((NextUInt64() >> 32) * (ulong)maxExclusive) >> 32);
    }

    /// <summary>
    /// A uniform integer in [0, <paramref name="maxExclusive"/>): the same numbers as <see cref="Next(int)"/> below
    /// 2^31, so a stream's windows do not depend on whether it is held in an array or mapped from a store; above it,
    /// the high 64 bits of (64 random bits × range).
    /// </summary>
    public long Next(long maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentOutOfRangeException(nameof(maxExclusive), maxExclusive, "must be positive");
        if (maxExclusive <= int.MaxValue) return Next((int)maxExclusive);
        return (long)Math.BigMul(NextUInt64(), (ulong)maxExclusive, out _);
    }
}
