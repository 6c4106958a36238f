using System.Text.RegularExpressions;

namespace MLNet.MoE;

/// <summary>
/// Regular expressions that come from tokenizer files: every match runs under a time limit, all the matches of one
/// encode under a total limit, and a pattern that backtracks catastrophically on probe texts (plain text, and text
/// outside the Basic Multilingual Plane: emoji, ZWJ sequences, flags, skin tones, CJK extension B) is refused when the
/// file is loaded rather than hanging the first encode. .NET's non-backtracking engine cannot take the look-arounds
/// byte-level pre-tokenizer patterns use, so the limits are timeouts.
/// </summary>
internal static class PatternGuard
{
    /// <summary>The longest one match of a pre-tokenizer pattern may take while encoding.</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Time allowed per character of a text, on top of <see cref="MatchTimeout"/>, for all the matches of one encode.</summary>
    public static readonly TimeSpan TimePerCharacter = TimeSpan.FromTicks(100);

    /// <summary>
    /// The longest all the matches of one encode may take on a text of <paramref name="length"/> characters:
    /// <see cref="MatchTimeout"/> plus <see cref="TimePerCharacter"/> (10 µs) a character, a thousand times what byte-level
    /// patterns need. The total is checked between matches, so an encode ends within this plus one <see cref="MatchTimeout"/>.
    /// </summary>
    public static TimeSpan EncodeTimeLimit(int length) => MatchTimeout + TimePerCharacter * length;

    /// <summary>The longest the load-time probe may take on one probe text (ordinary patterns need microseconds).</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromMilliseconds(500);

    private static readonly string[] Probes = BuildProbes();

    private static string[] BuildProbes()
    {
        var probes = new List<string>();
        foreach (char c in "a A1 \t\n.é_-'")
        {
            probes.Add(new string(c, 1024) + "\u0000");
            probes.Add(new string(c, 1024) + "!");
        }
        probes.Add(string.Concat(Enumerable.Repeat("ab ", 400)) + "\u0000");
        // Outside the Basic Multilingual Plane every character is two UTF-16 code units (a surrogate pair), which a
        // pattern can treat apart from everything above: an emoji, a ZWJ family, a flag, a skin-toned emoji, CJK extension B.
        foreach (string unit in new[] { "\U0001F600", "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F1EB\U0001F1F7", "\U0001F44D\U0001F3FD", "\U00020000" })
        {
            string run = string.Concat(Enumerable.Repeat(unit, 1024 / unit.Length));
            probes.Add(run + "\u0000");
            probes.Add(run + "!");
            probes.Add(string.Concat(Enumerable.Repeat("a" + unit + " ", 1024 / (unit.Length + 2))) + "\u0000");
        }
        return probes.ToArray();
    }

    /// <summary>
    /// Compiles <paramref name="pattern"/>, made code-point correct by <see cref="CodePointPattern.Translate"/>, with the
    /// match time limit, after checking it on the probe texts;
    /// <paramref name="location"/> names the file and field in messages.
    /// </summary>
    public static Regex Create(string pattern, string location)
    {
        pattern = CodePointPattern.Translate(pattern);
        Regex probe;
        try
        {
            probe = new Regex(pattern, RegexOptions.None, ProbeTimeout);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{location} is not a regular expression .NET accepts: {MessageText.Printable(ex.Message)}", ex);
        }
        foreach (string text in Probes)
        {
            try
            {
                for (Match match = probe.Match(text); match.Success; match = match.NextMatch())
                {
                }
            }
            catch (RegexMatchTimeoutException)
            {
                throw new InvalidDataException(
                    $"{location}: the pattern took more than {ProbeTimeout.TotalMilliseconds:N0} ms on a probe text of {text.Length:N0} characters; it backtracks catastrophically and would hang encoding, so it is refused.");
            }
        }
        return new Regex(pattern, RegexOptions.Compiled, MatchTimeout);
    }
}
