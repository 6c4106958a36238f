using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace MLNet.MoE.Tests.ModelBuilder;

/// <summary>
/// Each Model Builder-shaped sample is its template made with the sample's name: the template's model files
/// (<c>&lt;sourceName&gt;.*.cs</c>), with <c>template.json</c>'s <c>sourceName</c> replaced by the sample's name and each
/// symbol's <c>replaces</c> text by the symbol's value, equal the sample's files to the character. The values are the ones
/// <c>dotnet new &lt;template&gt; -n &lt;Sample&gt;</c> would get from the sample itself: <c>--namespace</c> its project's
/// root namespace, <c>--data</c>, <c>--text</c> and <c>--label</c> its <c>.mbconfig</c>'s data file and columns, the
/// other options their defaults. A change to one and not the other fails here.
/// </summary>
public class ModelBuilderTemplateSampleTests
{
    private static readonly string TemplatesContent = Path.Combine(TestPaths.RepositoryRoot, "templates", "MLNet.MoE.Templates", "content");
    private static readonly string Samples = Path.Combine(TestPaths.RepositoryRoot, "samples", "ModelBuilder");

    [Theory]
    [InlineData("classifier", "SentimentModel")]
    [InlineData("languagemodel", "ScriptureModel")]
    public void TheSamplesModelFilesAreItsTemplateMadeWithItsName(string template, string sample)
    {
        using var templateJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(TemplatesContent, template, ".template.config", "template.json")));
        string sourceName = templateJson.RootElement.GetProperty("sourceName").GetString()!;
        var replace = Replacer(templateJson.RootElement, sample, SampleOptions(sample));

        string[] templateFiles = Directory.GetFiles(Path.Combine(TemplatesContent, template), sourceName + ".*.cs");
        Assert.Equal(new[] { ".consumption.cs", ".evaluate.cs", ".training.cs" }, templateFiles.Select(f => Path.GetFileName(f)[sourceName.Length..]).Order(StringComparer.Ordinal));
        foreach (string templateFile in templateFiles)
        {
            string sampleFile = Path.Combine(Samples, sample, sample + Path.GetFileName(templateFile)[sourceName.Length..]);
            Assert.True(File.Exists(sampleFile), $"the template has {Path.GetFileName(templateFile)} but the sample has no {Path.GetFileName(sampleFile)}");
            string expected = Normalize(replace(File.ReadAllText(templateFile)));
            string actual = Normalize(File.ReadAllText(sampleFile));
            Assert.True(expected == actual, FirstDifference(templateFile, sampleFile, expected, actual));
        }
        Assert.Equal(templateFiles.Length, Directory.GetFiles(Path.Combine(Samples, sample), "*.cs").Length);
    }

    [Fact]
    public void EveryTemplateSymbolThatReplacesTextIsOneThisTestEvaluates()
    {
        // A symbol kind the replacer does not know would make the comparison above meaningless: it fails instead.
        foreach (string template in new[] { "classifier", "languagemodel" })
        {
            using var templateJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(TemplatesContent, template, ".template.config", "template.json")));
            var replace = Replacer(templateJson.RootElement, "AnyModel", new Dictionary<string, string> { ["data"] = "data.tsv" });
            string sourceName = templateJson.RootElement.GetProperty("sourceName").GetString()!;
            Assert.Equal("namespace AnyModel; class AnyModel", replace($"namespace MoeModelNamespace; class {sourceName}"));
        }
    }

    /// <summary>The options <c>dotnet new</c> would be given to make <paramref name="sample"/>: read from its project and <c>.mbconfig</c>.</summary>
    private static Dictionary<string, string> SampleOptions(string sample)
    {
        var project = XElement.Load(Path.Combine(Samples, sample, sample + ".csproj"));
        string rootNamespace = project.Descendants("RootNamespace").Single().Value;
        using var mbconfig = JsonDocument.Parse(File.ReadAllText(Path.Combine(Samples, sample, sample + ".mbconfig")));
        JsonElement dataSource = mbconfig.RootElement.GetProperty("DataSource");
        var options = new Dictionary<string, string>
        {
            ["namespace"] = rootNamespace,
            ["data"] = dataSource.GetProperty("FilePath").GetString()!,
        };
        foreach (JsonElement column in dataSource.GetProperty("ColumnProperties").EnumerateArray())
            options[column.GetProperty("ColumnPurpose").GetString()!.ToLowerInvariant()] = column.GetProperty("ColumnName").GetString()!;
        return options;
    }

    /// <summary>
    /// What the template engine does to a content file's text: <c>sourceName</c> (and its lower-case form) becomes the name,
    /// and each symbol's <c>replaces</c> text becomes its value, all at once, the longest match first. Parameters take the
    /// given option or their default; generated symbols are evaluated (<c>switch</c> on <c>(parameter == 'value')</c>
    /// conditions, <c>coalesce</c>); any other kind fails the test.
    /// </summary>
    private static Func<string, string> Replacer(JsonElement template, string name, IReadOnlyDictionary<string, string> options)
    {
        var values = new Dictionary<string, string> { ["name"] = name };
        var symbols = template.GetProperty("symbols").EnumerateObject().ToList();
        foreach (JsonProperty symbol in symbols.Where(s => s.Value.GetProperty("type").GetString() == "parameter"))
        {
            if (options.TryGetValue(symbol.Name, out string? given)) values[symbol.Name] = given;
            else if (symbol.Value.TryGetProperty("defaultValue", out JsonElement defaultValue)) values[symbol.Name] = defaultValue.GetString()!;
            else if (symbol.Value.TryGetProperty("isRequired", out JsonElement required) && required.GetBoolean()) throw new InvalidOperationException($"parameter '{symbol.Name}' is required and was not given");
            else values[symbol.Name] = "";
        }
        var condition = new Regex(@"^\((\w+) == '([^']*)'\)$");
        foreach (JsonProperty symbol in symbols.Where(s => s.Value.GetProperty("type").GetString() == "generated"))
        {
            JsonElement parameters = symbol.Value.GetProperty("parameters");
            values[symbol.Name] = symbol.Value.GetProperty("generator").GetString() switch
            {
                "switch" => parameters.GetProperty("cases").EnumerateArray()
                    .Where(c =>
                    {
                        Match m = condition.Match(c.GetProperty("condition").GetString()!);
                        Assert.True(m.Success, $"symbol '{symbol.Name}': condition {c.GetProperty("condition")} is not of the form (parameter == 'value')");
                        return values[m.Groups[1].Value] == m.Groups[2].Value;
                    })
                    .Select(c => c.GetProperty("value").GetString()!).First(),
                "coalesce" => values[parameters.GetProperty("sourceVariableName").GetString()!] is { Length: > 0 } source
                    ? source
                    : values[parameters.GetProperty("fallbackVariableName").GetString()!],
                var other => throw new InvalidOperationException($"symbol '{symbol.Name}' uses the generator '{other}', which this test does not evaluate"),
            };
        }
        foreach (JsonProperty symbol in symbols)
        {
            string type = symbol.Value.GetProperty("type").GetString()!;
            if (type is not ("parameter" or "generated"))
                throw new InvalidOperationException($"symbol '{symbol.Name}' is of type '{type}', which this test does not evaluate");
        }

        string sourceName = template.GetProperty("sourceName").GetString()!;
        var replacements = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [sourceName] = name,
            [sourceName.ToLowerInvariant()] = name.ToLowerInvariant(),
        };
        foreach (JsonProperty symbol in symbols)
        {
            if (symbol.Value.TryGetProperty("replaces", out JsonElement replaces)) replacements.Add(replaces.GetString()!, values[symbol.Name]);
        }
        var pattern = new Regex(string.Join("|", replacements.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)));
        return text => pattern.Replace(text, m => replacements[m.Value]);
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n");

    private static string FirstDifference(string templateFile, string sampleFile, string expected, string actual)
    {
        string[] e = expected.Split('\n'), a = actual.Split('\n');
        int line = 0;
        while (line < e.Length && line < a.Length && e[line] == a[line]) line++;
        string Line(string[] lines) => line < lines.Length ? lines[line] : "(end of file)";
        return $"{Path.GetRelativePath(TestPaths.RepositoryRoot, sampleFile)} is not {Path.GetRelativePath(TestPaths.RepositoryRoot, templateFile)} made with the sample's name: " +
            $"line {line + 1} is\n  {Line(a)}\nbut the template makes\n  {Line(e)}\n(edit both, or see docs/model-builder.md)";
    }
}
