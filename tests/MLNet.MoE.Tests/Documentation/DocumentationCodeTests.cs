using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit.Abstractions;

namespace MLNet.MoE.Tests.Documentation;

/// <summary>
/// Every C# block of the documentation pages (<see cref="DocumentationPages"/>) compiles against the libraries
/// as built, as a reader would paste it into a console app (implicit usings, nothing else declared): the documentation
/// cannot drift from the API, and no block uses a variable or namespace it does not introduce.
/// </summary>
public class DocumentationCodeTests(ITestOutputHelper output)
{
    /// <summary>
    /// A page carrying this comment is a walkthrough: its blocks, pasted one after another, form one program (as a reader
    /// following it would paste them), so they compile together. Other pages' blocks compile one by one.
    /// </summary>
    public const string OneProgramMarker = "<!-- the C# blocks of this page form one program -->";

    private static List<MarkdownCodeBlock> Blocks()
    {
        var blocks = new List<MarkdownCodeBlock>();
        foreach (string file in DocumentationPages.Files)
        {
            var read = MarkdownCodeBlock.Read(file, DocumentationPages.RelativeName(file)).ToList();
            if (read.Count > 0 && File.ReadAllText(file).Contains(OneProgramMarker, StringComparison.Ordinal))
                blocks.Add(read[0] with { Code = string.Join('\n', read.Select(b => b.Code)) });
            else
                blocks.AddRange(read);
        }
        return blocks;
    }

    [Fact]
    public void EveryCSharpBlockOfTheDocumentationCompiles()
    {
        var blocks = Blocks();
        Assert.True(blocks.Count >= 12, $"only {blocks.Count} C# blocks found: the Markdown reader lost some");
        var references = References();
        var failures = new List<string>();
        for (int i = 0; i < blocks.Count; i++)
        {
            string source = SnippetProgram.Build(blocks[i], i);
            var trees = new[]
            {
                CSharpSyntaxTree.ParseText(SnippetProgram.ImplicitUsings, path: "ImplicitUsings.cs"),
                CSharpSyntaxTree.ParseText(source, path: blocks[i].ToString()),
            };
            var compilation = CSharpCompilation.Create("Snippet" + i, trees, references,
                new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
            var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            if (errors.Count == 0) continue;
            var sourceLines = source.Split('\n');
            failures.Add($"{blocks[i]}:\n" + string.Join('\n', errors.Take(5).Select(e =>
            {
                var span = e.Location.GetLineSpan();
                string line = e.Location.SourceTree?.FilePath == blocks[i].ToString() && span.StartLinePosition.Line < sourceLines.Length ? sourceLines[span.StartLinePosition.Line].Trim() : "";
                return $"  {e.Id} {e.GetMessage()}  [{line}]";
            })));
        }
        output.WriteLine($"{blocks.Count} blocks compiled, {failures.Count} failed");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    /// <summary>The runtime's assemblies and every managed assembly beside the tests (the libraries and their dependencies).</summary>
    private static List<MetadataReference> References()
    {
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string path in ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)) byName[Path.GetFileName(path)] = path;
        foreach (string path in Directory.GetFiles(AppContext.BaseDirectory, "*.dll"))
        {
            if (IsManaged(path)) byName[Path.GetFileName(path)] = path;
        }
        return byName.Values.Where(p => !Path.GetFileName(p).StartsWith("MLNet.MoE.Tests", StringComparison.OrdinalIgnoreCase) && !Path.GetFileName(p).StartsWith("xunit", StringComparison.OrdinalIgnoreCase))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
    }

    private static bool IsManaged(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var pe = new PEReader(stream);
            return pe.HasMetadata && pe.GetMetadataReader().IsAssembly;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }
}
