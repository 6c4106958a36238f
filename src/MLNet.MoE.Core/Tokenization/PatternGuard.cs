using System.Text.RegularExpressions;

namespace MLNet.MoE;

/// <summary>
/// Regular expressions that come from tokenizer files: every match runs under a time limit, and a pattern that
/// backtracks catastrophically on plain probe texts is refused when the file is loaded rather than hanging the first
/// encode. .NET's non-backtracking engine cannot take the look-arounds byte-level pre-tokenizer patterns use, so the
/// limit is a match timeout.
/// </summary>
internal static class PatternGuard
{
    /// <summary>The longest one match of a pre-tokenizer pattern may take while encoding.</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(2);

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
        return probes.ToArray();
    }

    /// <summary>
    /// Compiles <paramref name="pattern"/> with the match time limit, after checking it on the probe texts;
    /// <paramref name="location"/> names the file and field in messages.
    /// </summary>
    public static Regex Create(string pattern, string location)
    {
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
