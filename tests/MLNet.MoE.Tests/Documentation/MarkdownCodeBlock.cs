using System.Text.RegularExpressions;

namespace MLNet.MoE.Tests.Documentation;

/// <summary>One fenced <c>```csharp</c> block of a Markdown file, with where it starts.</summary>
internal sealed record MarkdownCodeBlock(string File, int Line, string Code)
{
    private static readonly Regex Fence = new(@"^\s*```", RegexOptions.Compiled);

    /// <summary>The C# blocks of <paramref name="path"/> (fences marked <c>csharp</c> or <c>cs</c>), in order.</summary>
    public static IEnumerable<MarkdownCodeBlock> Read(string path, string displayName)
    {
        string[] lines = System.IO.File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            string opening = lines[i].Trim();
            if (!opening.StartsWith("```", StringComparison.Ordinal)) continue;
            string language = opening[3..].Trim();
            int start = i + 1;
            int end = start;
            while (end < lines.Length && !Fence.IsMatch(lines[end])) end++;
            if (language is "csharp" or "cs" or "c#")
            {
                // Blocks inside list items are indented: remove the fence's indentation from every line.
                int indent = lines[i].Length - lines[i].TrimStart().Length;
                var code = lines[start..Math.Min(end, lines.Length)].Select(l => l.Length >= indent && string.IsNullOrWhiteSpace(l[..indent]) ? l[indent..] : l.TrimStart());
                yield return new MarkdownCodeBlock(displayName, start + 1, string.Join('\n', code));
            }
            i = end;
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{File}:{Line}";
}
