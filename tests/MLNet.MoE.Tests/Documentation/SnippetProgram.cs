using System.Text;
using System.Text.RegularExpressions;

namespace MLNet.MoE.Tests.Documentation;

/// <summary>
/// Turns a documentation code block into a compilable file, the way a reader pastes it into a console app with implicit
/// usings: its <c>using</c> directives stay at the top, its type declarations move to file level, and every other line
/// becomes the body of one method. Nothing else is added, so a block that names an undeclared variable does not compile.
/// </summary>
internal static class SnippetProgram
{
    private static readonly Regex UsingDirective = new(@"^using\s+(static\s+)?[\w.]+(\s*=\s*[\w.<>]+)?\s*;", RegexOptions.Compiled);
    private static readonly Regex TypeDeclaration = new(@"^(\[[^\]]*\]\s*)*((public|internal|sealed|static|partial|abstract|file|readonly)\s+)*(class|record|struct|interface|enum)\s+\w+", RegexOptions.Compiled);

    /// <summary>The usings an SDK console app with <c>ImplicitUsings</c> gets.</summary>
    public const string ImplicitUsings = "global using System;\nglobal using System.Collections.Generic;\nglobal using System.IO;\nglobal using System.Linq;\nglobal using System.Net.Http;\nglobal using System.Threading;\nglobal using System.Threading.Tasks;\n";

    /// <summary>The source of <paramref name="block"/> as one compilation unit, in a class named after <paramref name="index"/>.</summary>
    public static string Build(MarkdownCodeBlock block, int index)
    {
        string[] lines = block.Code.Split('\n');
        var usings = new StringBuilder();
        var types = new StringBuilder();
        var body = new StringBuilder();
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (UsingDirective.IsMatch(line))
            {
                usings.AppendLine(line);
            }
            else if (TypeDeclaration.IsMatch(line))
            {
                // The declaration runs until its braces balance (a one-line declaration included).
                int depth = 0;
                bool opened = false;
                for (; i < lines.Length; i++)
                {
                    types.AppendLine(lines[i]);
                    foreach (char c in StripComment(lines[i]))
                    {
                        if (c == '{') { depth++; opened = true; }
                        else if (c == '}') depth--;
                    }
                    if ((opened && depth == 0) || (!opened && lines[i].TrimEnd().EndsWith(';'))) break;
                }
            }
            else
            {
                body.AppendLine(line);
            }
        }
        return $"{usings}\n#nullable enable\ninternal static class DocumentationSnippet{index}\n{{\n    public static async System.Threading.Tasks.Task Run()\n    {{\n        await System.Threading.Tasks.Task.CompletedTask;\n{body}\n    }}\n}}\n{types}";
    }

    private static string StripComment(string line)
    {
        int comment = line.IndexOf("//", StringComparison.Ordinal);
        return comment >= 0 ? line[..comment] : line;
    }
}
