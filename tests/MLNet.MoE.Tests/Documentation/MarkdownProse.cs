using System.Text;
using System.Text.RegularExpressions;

namespace MLNet.MoE.Tests.Documentation;

/// <summary>Something a page's prose names: an inline code span's text or a link's target, with the line it starts on.</summary>
internal sealed record ProseItem(string Page, int Line, string Text)
{
    /// <inheritdoc />
    public override string ToString() => $"{Page}:{Line}";
}

/// <summary>
/// What a Markdown page names: outside fenced code blocks and HTML comments its inline code spans (which may run over a
/// line end, so they are read paragraph by paragraph), its links' targets and its headings' anchors; and the lines of its
/// fenced code blocks.
/// </summary>
internal sealed partial class MarkdownProse
{
    private MarkdownProse(string file)
    {
        File = file;
        Page = DocumentationPages.RelativeName(file);
        string[] lines = System.IO.File.ReadAllLines(file);
        var paragraph = new List<(int Line, string Text)>();
        var slugs = new Dictionary<string, int>(StringComparer.Ordinal);
        bool inFence = false;
        string fence = "";
        bool inComment = false;
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            string trimmed = line.TrimStart();
            if (inFence)
            {
                if (trimmed.StartsWith(fence, StringComparison.Ordinal)) inFence = false;
                else CodeLines.Add(new ProseItem(Page, i + 1, line));
                continue;
            }
            if (trimmed.StartsWith("```", StringComparison.Ordinal) || trimmed.StartsWith("~~~", StringComparison.Ordinal))
            {
                ReadParagraph(paragraph);
                inFence = true;
                fence = trimmed[..3];
                continue;
            }
            if (inComment || trimmed.StartsWith("<!--", StringComparison.Ordinal))
            {
                inComment = !line.Contains("-->", StringComparison.Ordinal);
                continue;
            }
            if (Heading().Match(line) is { Success: true } heading)
            {
                string slug = Slug(heading.Groups[1].Value);
                int seen = slugs.GetValueOrDefault(slug);
                slugs[slug] = seen + 1;
                Anchors.Add(seen == 0 ? slug : $"{slug}-{seen}");
            }
            if (string.IsNullOrWhiteSpace(line)) ReadParagraph(paragraph);
            else paragraph.Add((i + 1, line));
        }
        ReadParagraph(paragraph);
    }

    /// <summary>The page's full path.</summary>
    public string File { get; }

    /// <summary>The page's path relative to the repository root.</summary>
    public string Page { get; }

    /// <summary>The text of every inline code span, trimmed.</summary>
    public List<ProseItem> CodeSpans { get; } = new();

    /// <summary>Every line inside a fenced code block.</summary>
    public List<ProseItem> CodeLines { get; } = new();

    /// <summary>The target of every link and image (<c>[text](target)</c>).</summary>
    public List<ProseItem> Links { get; } = new();

    /// <summary>The anchors of the page's headings, as GitHub makes them (lower case, punctuation dropped, spaces to hyphens, repeats numbered).</summary>
    public HashSet<string> Anchors { get; } = new(StringComparer.Ordinal);

    /// <summary>Reads <paramref name="file"/>.</summary>
    public static MarkdownProse Read(string file) => new(file);

    /// <summary>GitHub's anchor of a heading's text.</summary>
    public static string Slug(string heading)
    {
        var slug = new StringBuilder();
        foreach (char c in heading.Trim().ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c is '-' or '_') slug.Append(c);
            else if (c == ' ') slug.Append('-');
        }
        return slug.ToString();
    }

    private void ReadParagraph(List<(int Line, string Text)> paragraph)
    {
        if (paragraph.Count == 0) return;
        string text = string.Join('\n', paragraph.Select(p => p.Text));
        int LineAt(int index) => paragraph[text[..index].Count(c => c == '\n')].Line;
        // Code spans first (a run of n backticks up to the next run of exactly n), then links in the text around them.
        var masked = new StringBuilder(text);
        int at = 0;
        while (at < text.Length)
        {
            int open = text.IndexOf('`', at);
            if (open < 0) break;
            int length = 1;
            while (open + length < text.Length && text[open + length] == '`') length++;
            int close = FindClosingRun(text, open + length, length);
            if (close < 0)
            {
                at = open + length;
                continue;
            }
            string code = text[(open + length)..close].Replace('\n', ' ').Trim();
            if (code.Length > 0) CodeSpans.Add(new ProseItem(Page, LineAt(open), code));
            for (int k = open; k < close + length; k++) masked[k] = ' ';
            at = close + length;
        }
        string prose = masked.ToString();
        foreach (Match link in Link().Matches(prose))
        {
            Links.Add(new ProseItem(Page, LineAt(link.Index), link.Groups[1].Value));
        }
        paragraph.Clear();
    }

    private static int FindClosingRun(string text, int from, int length)
    {
        for (int i = from; i < text.Length; i++)
        {
            if (text[i] != '`') continue;
            int run = 1;
            while (i + run < text.Length && text[i + run] == '`') run++;
            if (run == length) return i;
            i += run - 1;
        }
        return -1;
    }

    [GeneratedRegex(@"^#{1,6}\s+(.+?)\s*#*\s*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+""[^""]*"")?\s*\)")]
    private static partial Regex Link();
}
