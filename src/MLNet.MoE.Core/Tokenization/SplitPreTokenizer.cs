using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// The Hugging Face "Split" pre-tokenizer. Written by hand: Microsoft.ML.Tokenizers' RegexPreTokenizer returns only
/// the regex matches and drops the text between them, which HF's default "Isolated" behavior keeps. The matches of one
/// encode run under <see cref="PatternGuard.EncodeTimeLimit"/> in total (each under the regex's own match timeout), so
/// a pattern that is slow on some text, match after match, ends with an exception instead of a stalled encode.
/// </summary>
internal sealed class SplitPreTokenizer : PreTokenizer
{
    private readonly Regex _regex;
    private readonly SplitBehavior _behavior;
    private readonly bool _invert;
    private readonly string _location;

    /// <summary>
    /// Splits on <paramref name="regex"/> with <paramref name="behavior"/>; <paramref name="invert"/> swaps matches and
    /// gaps; <paramref name="location"/> names the pre-tokenizer (file and field) in messages.
    /// </summary>
    public SplitPreTokenizer(Regex regex, SplitBehavior behavior, bool invert, string location)
    {
        _regex = regex;
        _behavior = behavior;
        _invert = invert;
        _location = location;
    }

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text ?? string.Empty, EncodeDeadline.Start(text?.Length ?? 0));

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString(), EncodeDeadline.Start(text.Length));

    /// <summary>The pieces of <paramref name="text"/>, refused once <paramref name="deadline"/> (shared by the stages of one encode) has passed.</summary>
    internal List<(int Offset, int Length)> Split(string text, EncodeDeadline deadline)
    {
        // Segments covering the whole text, each flagged as delimiter (a match, or a gap when inverted) or not.
        var segments = new List<(int Offset, int Length, bool Delimiter)>();
        int position = 0;
        try
        {
            for (Match match = _regex.Match(text); match.Success; match = match.NextMatch())
            {
                if (deadline.Passed)
                {
                    throw new InvalidOperationException(
                        $"{_location}: the pattern took more than {deadline.Limit.TotalSeconds:N1} s in all on a text of {deadline.Length:N0} characters (stopped near character {position:N0} of a piece of {text.Length:N0}); it backtracks badly on this text.");
                }
                if (match.Length == 0) continue;
                if (match.Index > position) segments.Add((position, match.Index - position, _invert));
                segments.Add((match.Index, match.Length, !_invert));
                position = match.Index + match.Length;
            }
        }
        catch (RegexMatchTimeoutException ex)
        {
            throw new InvalidOperationException(
                $"{_location}: the pattern took longer than {_regex.MatchTimeout.TotalSeconds:N0} s for one match on a text of {text.Length:N0} characters (near character {position:N0}); it backtracks catastrophically on this text.", ex);
        }
        if (position < text.Length) segments.Add((position, text.Length - position, _invert));

        var pieces = new List<(int Offset, int Length)>(segments.Count);
        switch (_behavior)
        {
            case SplitBehavior.Removed:
                foreach (var s in segments)
                {
                    if (!s.Delimiter) pieces.Add((s.Offset, s.Length));
                }
                break;
            case SplitBehavior.Isolated:
                foreach (var s in segments) pieces.Add((s.Offset, s.Length));
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                // A delimiter joins the piece before it, unless that piece ends with a delimiter too (as in HF).
                bool previousDelimiter = false;
                foreach (var s in segments)
                {
                    if (s.Delimiter && !previousDelimiter && pieces.Count > 0)
                    {
                        pieces[^1] = (pieces[^1].Offset, pieces[^1].Length + s.Length);
                    }
                    else
                    {
                        pieces.Add((s.Offset, s.Length));
                    }
                    previousDelimiter = s.Delimiter;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                // The mirror image: walk backwards, a delimiter joins the piece after it unless that one starts with a delimiter.
                bool nextDelimiter = false;
                for (int i = segments.Count - 1; i >= 0; i--)
                {
                    var s = segments[i];
                    if (s.Delimiter && !nextDelimiter && pieces.Count > 0)
                    {
                        pieces[^1] = (s.Offset, pieces[^1].Length + s.Length);
                    }
                    else
                    {
                        pieces.Add((s.Offset, s.Length));
                    }
                    nextDelimiter = s.Delimiter;
                }
                pieces.Reverse();
                break;
            }
            case SplitBehavior.Contiguous:
                bool lastDelimiter = false;
                foreach (var s in segments)
                {
                    if (s.Delimiter && lastDelimiter)
                    {
                        pieces[^1] = (pieces[^1].Offset, pieces[^1].Length + s.Length);
                    }
                    else
                    {
                        pieces.Add((s.Offset, s.Length));
                    }
                    lastDelimiter = s.Delimiter;
                }
                break;
        }
        return pieces;
    }
}
