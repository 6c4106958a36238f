using System.Diagnostics;

namespace MLNet.MoE;

/// <summary>
/// When the pattern matching of one encode must have ended (<see cref="PatternGuard.EncodeTimeLimit"/> of the text's
/// length after it started), shared by every stage of a pre-tokenizer sequence so that the bound is on the whole encode.
/// </summary>
internal readonly struct EncodeDeadline
{
    private readonly long started;

    private EncodeDeadline(long started, int length)
    {
        this.started = started;
        Length = length;
        Limit = PatternGuard.EncodeTimeLimit(length);
    }

    /// <summary>The length of the whole text, in characters.</summary>
    public int Length { get; }

    /// <summary>The time allowed.</summary>
    public TimeSpan Limit { get; }

    /// <summary>Whether the time allowed has run out.</summary>
    public bool Passed => Stopwatch.GetElapsedTime(started) > Limit;

    /// <summary>A deadline starting now for a text of <paramref name="length"/> characters.</summary>
    public static EncodeDeadline Start(int length) => new(Stopwatch.GetTimestamp(), length);
}
