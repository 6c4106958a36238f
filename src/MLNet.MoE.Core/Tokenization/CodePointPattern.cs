using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace MLNet.MoE;

/// <summary>
/// Rewrites a regular expression written for code points (as Hugging Face tokenizers' Rust and Oniguruma engines read
/// it) so that .NET's <see cref="System.Text.RegularExpressions.Regex"/>, which matches UTF-16 code units, gives the same
/// matches on text outside the Basic Multilingual Plane. .NET sees an emoji or a CJK extension B character as two
/// surrogate code units of category Cs, so <c>\p{S}</c>, <c>\p{L}</c>, <c>\w</c> never match one, and a negated class or
/// <c>.</c> matches half of one. Each Unicode class (<c>[...]</c>, <c>\p{X}</c>, <c>\P{X}</c>, <c>\w</c>, <c>\d</c> and
/// their negations, <c>\S</c>, <c>.</c>) becomes a non-capturing group that matches either a code unit of the Basic
/// Multilingual Plane as before or one surrogate pair whose code point is in the class (by
/// <see cref="CharUnicodeInfo.GetUnicodeCategory(int)"/>). A class using features this rewrite does not know
/// (subtraction, an unknown property name, literal surrogates) is left as written.
/// </summary>
internal static class CodePointPattern
{
    private const int FirstAstral = 0x10000;

    /// <summary>The astral alternatives (surrogate-pair regex text) of each class signature, computed once.</summary>
    private static readonly ConcurrentDictionary<string, string> AstralAlternatives = new(StringComparer.Ordinal);

    /// <summary>Every astral code point as one surrogate pair.</summary>
    private const string AnyPair = @"[\uD800-\uDBFF][\uDC00-\uDFFF]";

    /// <summary>The pattern with every Unicode class made code-point correct.</summary>
    public static string Translate(string pattern)
    {
        var output = new StringBuilder(pattern.Length * 2);
        int i = 0;
        while (i < pattern.Length)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                int length = EscapeLength(pattern, i);
                string escape = pattern.Substring(i, length);
                output.Append(TranslateEscape(escape) ?? escape);
                i += length;
            }
            else if (c == '[')
            {
                int end = ClassEnd(pattern, i);
                if (end < 0)
                {
                    // Malformed: leave the rest for the regex parser to report.
                    output.Append(pattern, i, pattern.Length - i);
                    break;
                }
                string body = pattern.Substring(i, end - i + 1);
                output.Append(TranslateClass(body) ?? body);
                i = end + 1;
            }
            else if (c == '.')
            {
                output.Append("(?:").Append(AnyPair).Append("|.)");
                i++;
            }
            else
            {
                output.Append(c);
                i++;
            }
        }
        return output.ToString();
    }

    /// <summary>The length of the escape starting at <paramref name="start"/> (a backslash).</summary>
    private static int EscapeLength(string pattern, int start)
    {
        char kind = pattern[start + 1];
        if ((kind is 'p' or 'P') && start + 2 < pattern.Length && pattern[start + 2] == '{')
        {
            int close = pattern.IndexOf('}', start + 3);
            return close < 0 ? pattern.Length - start : close - start + 1;
        }
        if (kind == 'u') return Math.Min(6, pattern.Length - start);
        if (kind == 'x') return Math.Min(4, pattern.Length - start);
        return 2;
    }

    /// <summary>The index of the <c>]</c> closing the class opened at <paramref name="start"/>, or -1.</summary>
    private static int ClassEnd(string pattern, int start)
    {
        int i = start + 1;
        if (i < pattern.Length && pattern[i] == '^') i++;
        if (i < pattern.Length && pattern[i] == ']') i++; // a leading ] is literal
        int depth = 0;
        while (i < pattern.Length)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                i += EscapeLength(pattern, i);
                continue;
            }
            if (c == '[') depth++;
            else if (c == ']')
            {
                if (depth == 0) return i;
                depth--;
            }
            i++;
        }
        return -1;
    }

    /// <summary>A code-point-correct form of a class escape outside brackets, or null to keep it.</summary>
    private static string? TranslateEscape(string escape)
    {
        switch (escape)
        {
            case @"\w": case @"\W": case @"\d": case @"\D": case @"\S":
                return Group(escape, [escape], negated: false);
        }
        if (escape.Length > 4 && escape[1] is 'p' or 'P' && escape[2] == '{') return Group(escape, [escape], negated: false);
        return null;
    }

    /// <summary>A code-point-correct form of the bracketed class <paramref name="text"/>, or null to keep it.</summary>
    private static string? TranslateClass(string text)
    {
        bool negated = text.Length > 1 && text[1] == '^';
        int bodyStart = negated ? 2 : 1;
        string body = text[bodyStart..^1];
        var items = new List<string>();
        int i = 0;
        while (i < body.Length)
        {
            char c = body[i];
            if (c == '[' || char.IsSurrogate(c)) return null; // subtraction or literal astral characters: keep
            if (c == '\\' && i + 1 < body.Length)
            {
                int length = EscapeLength(body, i);
                string escape = body.Substring(i, length);
                if (escape is @"\w" or @"\W" or @"\d" or @"\D" or @"\S" or @"\s" || (escape.Length > 4 && escape[1] is 'p' or 'P'))
                {
                    items.Add(escape);
                }
                i += length;
                continue;
            }
            i++;
        }
        if (!negated && items.Count == 0) return null; // only BMP literals: nothing astral can match
        return Group(text, items, negated);
    }

    /// <summary>
    /// <c>(?:BMP|astral)</c>: <paramref name="bmp"/> limited to non-surrogate code units, or one surrogate pair in the
    /// astral set of <paramref name="items"/> (complemented when <paramref name="negated"/>); null when an item is unknown.
    /// </summary>
    private static string? Group(string bmp, IReadOnlyList<string> items, bool negated)
    {
        string key = (negated ? "^" : "") + string.Join("", items.Order(StringComparer.Ordinal));
        string? astral;
        if (!AstralAlternatives.TryGetValue(key, out astral))
        {
            Func<UnicodeCategory, bool>? member = Membership(items);
            if (member is null) return null;
            bool[] inSet = new bool[32];
            foreach (UnicodeCategory category in Enum.GetValues<UnicodeCategory>()) inSet[(int)category] = member(category) != negated;
            astral = PairsOf(cp => inSet[(int)CharUnicodeInfo.GetUnicodeCategory(cp)]);
            AstralAlternatives[key] = astral;
        }
        // The BMP part must not match half of a surrogate pair, as \P{..}, \W, \D, \S and negated classes would.
        string bmpPart = !bmp.StartsWith('[') ? $"[{bmp}-[\\uD800-\\uDFFF]]"
            : negated ? bmp[..^1] + @"\uD800-\uDFFF]"
            : bmp[..^1] + @"-[\uD800-\uDFFF]]";
        return astral.Length == 0 ? $"(?:{bmpPart})" : $"(?:{bmpPart}|(?=[\\uD800-\\uDBFF]){astral})";
    }

    /// <summary>Whether a category is in the union of <paramref name="items"/>; null when an item is not understood.</summary>
    private static Func<UnicodeCategory, bool>? Membership(IReadOnlyList<string> items)
    {
        var tests = new List<Func<UnicodeCategory, bool>>();
        foreach (string item in items)
        {
            Func<UnicodeCategory, bool>? test = item switch
            {
                @"\w" => IsWord,
                @"\W" => c => !IsWord(c),
                @"\d" => c => c == UnicodeCategory.DecimalDigitNumber,
                @"\D" => c => c != UnicodeCategory.DecimalDigitNumber,
                @"\s" => _ => false,
                @"\S" => _ => true,
                _ => Property(item),
            };
            if (test is null) return null;
            tests.Add(test);
        }
        return c => tests.Any(t => t(c));
    }

    private static bool IsWord(UnicodeCategory c) =>
        c is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.NonSpacingMark
            or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation;

    /// <summary>The test for <c>\p{X}</c> or <c>\P{X}</c> with a general category name, or null for other names.</summary>
    private static Func<UnicodeCategory, bool>? Property(string item)
    {
        string name = item[3..^1];
        bool negate = item[1] == 'P';
        UnicodeCategory[] categories = Enum.GetValues<UnicodeCategory>().Where(c => CategoryCode(c).StartsWith(name, StringComparison.Ordinal)).ToArray();
        if (categories.Length == 0 || name.Length > 2) return null;
        return c => categories.Contains(c) != negate;
    }

    /// <summary>The two-letter Unicode code of a .NET category.</summary>
    private static string CategoryCode(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => "Lu",
        UnicodeCategory.LowercaseLetter => "Ll",
        UnicodeCategory.TitlecaseLetter => "Lt",
        UnicodeCategory.ModifierLetter => "Lm",
        UnicodeCategory.OtherLetter => "Lo",
        UnicodeCategory.NonSpacingMark => "Mn",
        UnicodeCategory.SpacingCombiningMark => "Mc",
        UnicodeCategory.EnclosingMark => "Me",
        UnicodeCategory.DecimalDigitNumber => "Nd",
        UnicodeCategory.LetterNumber => "Nl",
        UnicodeCategory.OtherNumber => "No",
        UnicodeCategory.SpaceSeparator => "Zs",
        UnicodeCategory.LineSeparator => "Zl",
        UnicodeCategory.ParagraphSeparator => "Zp",
        UnicodeCategory.Control => "Cc",
        UnicodeCategory.Format => "Cf",
        UnicodeCategory.Surrogate => "Cs",
        UnicodeCategory.PrivateUse => "Co",
        UnicodeCategory.ConnectorPunctuation => "Pc",
        UnicodeCategory.DashPunctuation => "Pd",
        UnicodeCategory.OpenPunctuation => "Ps",
        UnicodeCategory.ClosePunctuation => "Pe",
        UnicodeCategory.InitialQuotePunctuation => "Pi",
        UnicodeCategory.FinalQuotePunctuation => "Pf",
        UnicodeCategory.OtherPunctuation => "Po",
        UnicodeCategory.MathSymbol => "Sm",
        UnicodeCategory.CurrencySymbol => "Sc",
        UnicodeCategory.ModifierSymbol => "Sk",
        UnicodeCategory.OtherSymbol => "So",
        _ => "Cn",
    };

    /// <summary>
    /// Regex text matching one surrogate pair whose code point satisfies <paramref name="member"/>: high surrogates with
    /// the same set of low surrogates share one branch. Empty when no astral code point does.
    /// </summary>
    private static string PairsOf(Func<int, bool> member)
    {
        // For each high surrogate, its low-surrogate ranges as regex class text.
        var lowSets = new string[1024];
        var ranges = new StringBuilder();
        for (int high = 0; high < 1024; high++)
        {
            ranges.Clear();
            int runStart = -1;
            for (int low = 0; low <= 1024; low++)
            {
                bool inSet = low < 1024 && member(FirstAstral + (high << 10) + low);
                if (inSet && runStart < 0) runStart = low;
                if (!inSet && runStart >= 0)
                {
                    AppendRange(ranges, 0xDC00 + runStart, 0xDC00 + low - 1);
                    runStart = -1;
                }
            }
            lowSets[high] = ranges.ToString();
        }
        var branches = new List<string>();
        int h = 0;
        while (h < 1024)
        {
            int next = h + 1;
            while (next < 1024 && lowSets[next] == lowSets[h]) next++;
            if (lowSets[h].Length > 0)
            {
                var highText = new StringBuilder();
                AppendRange(highText, 0xD800 + h, 0xD800 + next - 1);
                branches.Add($"[{highText}][{lowSets[h]}]");
            }
            h = next;
        }
        return branches.Count == 0 ? "" : "(?:" + string.Join("|", branches) + ")";
    }

    private static void AppendRange(StringBuilder text, int first, int last)
    {
        text.Append($"\\u{first:X4}");
        if (last > first) text.Append($"-\\u{last:X4}");
    }
}
