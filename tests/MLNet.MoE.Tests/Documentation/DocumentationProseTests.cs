using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace MLNet.MoE.Tests.Documentation;

/// <summary>
/// The prose of the documentation pages (<see cref="DocumentationPages"/>) names only what exists. The C# blocks are
/// compiled by <see cref="DocumentationCodeTests"/>; this checks the rest of the text:
/// <list type="bullet">
/// <item>A code span naming one of the library's types (<c>`Type`</c>, <c>`Type.Member`</c>, <c>`Type.Member.Member`</c>,
/// calls and generic arguments included) names a public type of the recorded API
/// (<c>tests/MLNet.MoE.Tests/PublicApi/*.txt</c>) and public members of it, following each member's type while it is one
/// of the library's. A chain through one of the library's extension methods (<c>mlContext.MoE().ExportTokens</c>) is
/// followed from the method's result. Only the pages that describe the internals (<see cref="PagesDescribingInternals"/>)
/// may name internal types and members, which must then exist in the compiled assemblies.</item>
/// <item>Any other code span starting with a PascalCase name of two words or more (a type, member, setting or column)
/// names something that exists: a public member of the library (on its own), a word of the code of the samples, tests
/// and tools, or a type of an assembly they run with. A name found nowhere is one the code no longer has.</item>
/// <item>Every relative link leads to a file or folder, and to a heading of it when it names one.</item>
/// <item>Every repository path (<c>src/…</c>, <c>samples/…</c>, <c>docs/…</c>, <c>data/…</c>, <c>tests/…</c>, ...) named in
/// prose or in a code block exists, and so does every other relative file path a code span names, beside the page or
/// from the repository root.</item>
/// </list>
/// Each failure names the page and line. What a page may name without these rules is listed below, each with the reason.
/// </summary>
public partial class DocumentationProseTests(ITestOutputHelper output)
{
    /// <summary>Pages that describe the library's internals: the names of their code spans must exist, public or not.</summary>
    private static readonly Dictionary<string, string> PagesDescribingInternals = new(StringComparer.Ordinal)
    {
        ["docs/architecture.md"] = "the layers and data flow of the library, type by type",
        ["docs/model.md"] = "the network as built (src/MLNet.MoE/Modeling and the Hugging Face checkpoint code), module by module",
    };

    /// <summary>Code spans that spell the name of an internal type but mean something else, with what they mean.</summary>
    private static readonly Dictionary<string, string> NamesThatAreNotTheInternalType = new(StringComparer.Ordinal)
    {
        ["RmsNorm"] = "a kernel operation as the training log and TrainingSummary.Kernels print it (RmsNorm=Fused)",
        ["LinearCrossEntropy"] = "a kernel operation as the training log and TrainingSummary.Kernels print it (LinearCrossEntropy=Fused)",
        ["RotaryEmbedding"] = "the ONNX operator RotaryEmbedding (opset 23) in the exported graph",
    };

    /// <summary>Names of things outside the repository's code that a page names, with what they are.</summary>
    private static readonly Dictionary<string, string> NamesOutsideTheCode = new(StringComparer.Ordinal)
    {
        ["AutoTokenizer"] = "Hugging Face transformers' Python class that reads a tokenizer.json",
        ["DeepseekV3TopkRouter"] = "Hugging Face transformers' Python module of a DeepseekV3 MoE layer's router",
        ["KeyValues"] = "ML.NET's annotation holding a key column's values",
    };

    /// <summary>Paths a page names that are not in the repository, with what they are.</summary>
    private static readonly Dictionary<string, string> PathsOutsideTheRepository = new(StringComparer.Ordinal)
    {
        ["test/data/amazon_cells_labelled.txt"] = "the file of the npm package wink-sentiment that data/amazon_cells_labelled.txt was copied from",
    };

    /// <summary>Folders that builds and scripts write (never committed): a path into one exists once its parent does.</summary>
    private static readonly string[] OutputFolders = { "bin", "obj", "artifacts", ".gpu" };

    private static readonly List<MarkdownProse> Pages = DocumentationPages.Files.Select(MarkdownProse.Read).ToList();

    [Fact]
    public void EveryNameOfTheLibraryInTheProseIsPublicApi()
    {
        var api = RecordedPublicApi.Instance;
        Assert.True(api.TypeCount >= 50, $"only {api.TypeCount} public types read from the recorded API: its reader lost some");
        var failures = new List<string>();
        int checkedNames = 0;
        foreach (var page in Pages)
        {
            bool internals = PagesDescribingInternals.ContainsKey(page.Page);
            foreach (var span in page.CodeSpans)
            {
                if (!MemberPath().IsMatch(span.Text)) continue;
                var segments = Segments(span.Text);
                foreach (string argument in segments.SelectMany(s => s.TypeArguments).Where(DeclaredNames.LibraryTypes.ContainsKey))
                {
                    checkedNames++;
                    if (!internals && !api.HasType(argument) && !NamesThatAreNotTheInternalType.ContainsKey(argument))
                        failures.Add($"{span}: `{span.Text}`: {argument} is not a public type of the library.");
                }
                string? problem = internals ? CheckInternalName(segments, ref checkedNames) : CheckPublicName(api, segments, ref checkedNames);
                string head = segments[0].Name;
                if (problem == null && !DeclaredNames.LibraryTypes.ContainsKey(head) && !segments[0].IsCall && PascalCaseName().IsMatch(head))
                {
                    checkedNames++;
                    bool member = segments.Count == 1 && (internals ? DeclaredNames.IsLibraryMemberName(head) : api.IsMemberName(head));
                    if (!member && !DeclaredNames.RepositoryCodeWords.Contains(head) && !DeclaredNames.ReferencedTypes.Contains(head) && !NamesOutsideTheCode.ContainsKey(head))
                        problem = $"{head} is neither in the library nor in the code of the samples, tests and tools nor a type of the assemblies they use.";
                }
                if (problem != null) failures.Add($"{span}: `{span.Text}`: {problem}");
            }
        }
        output.WriteLine($"{checkedNames} names checked on {Pages.Count} pages, {failures.Count} failed");
        Assert.True(checkedNames >= 300, $"only {checkedNames} names found: the Markdown reader lost some");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void EveryRelativeLinkLeadsToAFileAndItsHeading()
    {
        var failures = new List<string>();
        int checkedLinks = 0;
        var byPath = Pages.ToDictionary(p => Path.GetFullPath(p.File), StringComparer.Ordinal);
        foreach (var page in Pages)
        {
            foreach (var link in page.Links)
            {
                if (Regex.IsMatch(link.Text, "^[a-z][a-z0-9+.-]*:", RegexOptions.IgnoreCase)) continue;   // https:, mailto:
                checkedLinks++;
                string[] parts = link.Text.Split('#', 2);
                string target = parts[0].Length == 0 ? page.File : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page.File)!, Uri.UnescapeDataString(parts[0])));
                if (!File.Exists(target) && !Directory.Exists(target))
                {
                    failures.Add($"{link}: ({link.Text}): {DocumentationPages.RelativeName(target)} does not exist.");
                    continue;
                }
                if (parts.Length == 2)
                {
                    var linked = byPath.TryGetValue(target, out var known) ? known : target.EndsWith(".md", StringComparison.Ordinal) ? MarkdownProse.Read(target) : null;
                    if (linked == null) failures.Add($"{link}: ({link.Text}): an anchor into a file that is not Markdown.");
                    else if (!linked.Anchors.Contains(parts[1])) failures.Add($"{link}: ({link.Text}): {linked.Page} has no heading #{parts[1]}.");
                }
            }
        }
        output.WriteLine($"{checkedLinks} relative links checked, {failures.Count} failed");
        Assert.True(checkedLinks >= 50, $"only {checkedLinks} relative links found: the Markdown reader lost some");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void EveryRepositoryPathNamedExists()
    {
        var failures = new List<string>();
        int checkedPaths = 0;
        foreach (var page in Pages)
        {
            var named = page.CodeSpans.SelectMany(span => RepositoryPath().Matches(span.Text).Select(m => (Item: span, Path: m.Value)))
                .Concat(page.CodeLines.SelectMany(line => RepositoryPath().Matches(line.Text).Select(m => (Item: line, Path: m.Value))))
                .Select(p => (p.Item, Path: p.Path.TrimEnd('.', ',', ':', ';'), FromPage: false))
                .Concat(page.CodeSpans.Where(span => RelativeFile().IsMatch(span.Text) && !RepositoryPath().IsMatch(span.Text)).Select(span => (Item: span, Path: span.Text, FromPage: true)));
            foreach (var (item, path, fromPage) in named)
            {
                if (PathsOutsideTheRepository.ContainsKey(path)) continue;
                checkedPaths++;
                bool exists = PathExists(TestPaths.RepositoryRoot, path) || (fromPage && PathExists(Path.GetDirectoryName(page.File)!, path));
                if (!exists) failures.Add($"{item}: `{path}` does not exist{(fromPage ? " beside the page or from the repository root" : " in the repository")}.");
            }
        }
        output.WriteLine($"{checkedPaths} repository paths checked, {failures.Count} failed");
        Assert.True(checkedPaths >= 100, $"only {checkedPaths} paths found: the Markdown reader lost some");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    /// <summary>A user page: the head type is public and each member is a public member of the type before it.</summary>
    private static string? CheckPublicName(RecordedPublicApi api, List<Segment> segments, ref int checkedNames)
    {
        int start;
        string? current;
        if (DeclaredNames.LibraryTypes.ContainsKey(segments[0].Name))
        {
            checkedNames++;
            if (NamesThatAreNotTheInternalType.ContainsKey(segments[0].Name) && segments.Count == 1) return null;
            if (!api.HasType(segments[0].Name)) return $"{segments[0].Name} is not a public type of the library.";
            (start, current) = (1, segments[0].Name);
        }
        else
        {
            // mlContext.MoE().Trainers..., ml.Transforms.Text.TokenizeForMoe(...): followed from the library's extension method.
            int extension = segments.FindIndex(1, s => s.IsCall && api.ExtensionMethods.ContainsKey(s.Name));
            if (extension < 0) return null;
            checkedNames++;
            (start, current) = (extension + 1, api.ExtensionMethods[segments[extension].Name]);
        }
        for (int i = start; i < segments.Count && current != null && api.HasType(current); i++)
        {
            checkedNames++;
            if (!api.TryGetMember(current, segments[i].Name, out string? memberType)) return $"{current} has no public member {segments[i].Name}.";
            current = memberType;
        }
        return null;
    }

    /// <summary>The page describing the internals: the head type and its members exist in the compiled assemblies.</summary>
    private static string? CheckInternalName(List<Segment> segments, ref int checkedNames)
    {
        if (!DeclaredNames.LibraryTypes.ContainsKey(segments[0].Name)) return null;
        checkedNames++;
        string current = segments[0].Name;
        for (int i = 1; i < segments.Count; i++)
        {
            checkedNames++;
            if (!DeclaredNames.LibraryTypeHasMember(current, segments[i].Name, out var memberType)) return $"{current} has no member {segments[i].Name}.";
            if (memberType == null || !DeclaredNames.LibraryTypes.ContainsKey(DeclaredNames.StripArity(memberType.Name))) break;
            current = DeclaredNames.StripArity(memberType.Name);
        }
        return null;
    }

    /// <summary>
    /// Whether <paramref name="path"/> exists under <paramref name="folder"/>. It may hold <c>*</c> wildcards; from a
    /// placeholder (<c>&lt;version&gt;</c>, <c>{i}</c>, <c>...</c>) or an output folder on, only the folder before it must exist.
    /// </summary>
    private static bool PathExists(string folder, string path)
    {
        var current = new List<string> { folder };
        string[] parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i];
            // The packages dotnet pack writes into nuget/ and what builds and scripts write are not committed.
            if (OutputFolders.Contains(part, StringComparer.Ordinal) || (i == 1 && parts[0] == "nuget" && part != "README.md")) break;
            if (part.Contains('<') || part.Contains('{') || part.Contains("...", StringComparison.Ordinal) || part.Contains('…')) break;   // a placeholder: its folder exists
            current = part switch
            {
                "." => current,
                ".." => current.Select(c => Path.GetDirectoryName(c)!).ToList(),
                _ when part.Contains('*') => current.Where(Directory.Exists).SelectMany(c => Directory.GetFileSystemEntries(c, part)).ToList(),
                _ => current.Select(c => Path.Combine(c, part)).Where(p => File.Exists(p) || Directory.Exists(p)).ToList(),
            };
            if (current.Count == 0) return false;
        }
        return true;
    }

    /// <summary>One step of a member path: its name, whether it is called, and the names in its generic arguments.</summary>
    private sealed record Segment(string Name, bool IsCall, List<string> TypeArguments);

    private static List<Segment> Segments(string path)
    {
        var segments = new List<Segment>();
        foreach (Match m in SegmentPattern().Matches(path))
        {
            var arguments = m.Groups["generic"].Success ? Identifier().Matches(m.Groups["generic"].Value).Select(a => a.Value).ToList() : new List<string>();
            segments.Add(new Segment(m.Groups["name"].Value, m.Groups["call"].Success, arguments));
        }
        return segments;
    }

    /// <summary><c>Type</c>, <c>Type.Member</c>, <c>a.B().C&lt;T&gt;(x, y).D</c>: identifiers with optional generic arguments and one level of call parentheses, joined by dots.</summary>
    [GeneratedRegex(@"^[A-Za-z_]\w*(?:<[^<>]*>)?(?:\([^()]*\))?(?:\.[A-Za-z_]\w*(?:<[^<>]*>)?(?:\([^()]*\))?)*$")]
    private static partial Regex MemberPath();

    [GeneratedRegex(@"(?<name>[A-Za-z_]\w*)(?:<(?<generic>[^<>]*)>)?(?<call>\([^()]*\))?")]
    private static partial Regex SegmentPattern();

    [GeneratedRegex(@"[A-Za-z_]\w*")]
    private static partial Regex Identifier();

    /// <summary>A PascalCase name of two words or more, such as <c>ScoreBatcher</c>.</summary>
    [GeneratedRegex(@"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$")]
    private static partial Regex PascalCaseName();

    /// <summary>A path from the repository root (<c>samples/QuickStart/Program.cs</c>), not part of a longer path or address.</summary>
    [GeneratedRegex(@"(?<![\w./\-:@])(?:src|samples|docs|data|tests|tools|templates|nuget|\.ci)/[^\s""'`()\[\],;|]*")]
    private static partial Regex RepositoryPath();

    /// <summary>A relative file path with a folder: <c>Backends/IScoringBackend.cs</c>, <c>../configs.json</c>.</summary>
    [GeneratedRegex(@"^(?:\.\.?/)*[\w.\-]+(?:/[\w.\-]+)+\.(?:cs|csproj|slnx|sln|py|sh|json|md|txt|yml|yaml|mbconfig|props|targets)$")]
    private static partial Regex RelativeFile();
}
