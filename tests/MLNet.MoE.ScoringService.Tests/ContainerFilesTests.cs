using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace MLNet.MoE.ScoringService.Tests;

/// <summary>
/// The Dockerfile and compose file cannot be built here (no container engine), so their references are checked: what
/// the Dockerfile copies exists, it runs the assembly the project publishes on the port it exposes, and the compose file
/// builds that Dockerfile, connects to its own Redis service and maps the exposed port.
/// </summary>
public partial class ContainerFilesTests
{
    private static readonly string Root = ServiceProcess.RepositoryRoot;
    private static readonly string ServiceFolder = Path.Combine(Root, "samples", "ScoringService");

    [Fact]
    public void TheDockerfileCopiesWhatExistsAndRunsThePublishedAssemblyOnTheExposedPort()
    {
        var lines = Instructions(File.ReadAllText(Path.Combine(ServiceFolder, "Dockerfile")));
        var stages = lines.Where(l => l.Keyword == "FROM").Select(l => l.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(2, stages.Count);
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:", stages[0][0]);
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:", stages[1][0]);
        string buildStage = stages[0][^1];

        var copies = lines.Where(l => l.Keyword == "COPY").ToList();
        Assert.NotEmpty(copies);
        foreach (var copy in copies)
        {
            var parts = copy.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts[0].StartsWith("--from=", StringComparison.Ordinal))
            {
                Assert.Equal($"--from={buildStage}", parts[0]);
                continue;
            }
            foreach (string source in parts[..^1]) Assert.True(File.Exists(Path.Combine(Root, source)) || Directory.Exists(Path.Combine(Root, source)), $"COPY source '{source}' is not in the repository");
        }

        var publish = Assert.Single(lines, l => l.Keyword == "RUN" && l.Arguments.Contains("dotnet publish"));
        string project = Regex.Match(publish.Arguments, @"dotnet publish (\S+)").Groups[1].Value;
        string projectPath = Path.Combine(Root, project);
        Assert.True(File.Exists(projectPath), $"the published project '{project}' does not exist");
        string assembly = XDocument.Load(projectPath).Descendants("AssemblyName").Single().Value;

        var entryPoint = Assert.Single(lines, l => l.Keyword == "ENTRYPOINT");
        Assert.Equal($"[\"dotnet\", \"{assembly}.dll\"]", entryPoint.Arguments);
        Assert.True(File.Exists(Path.Combine(ServiceProcess.BuildFolder, assembly + ".dll")), "the entry point names the assembly the project builds");

        string urls = Assert.Single(lines, l => l.Keyword == "ENV" && l.Arguments.StartsWith("ASPNETCORE_URLS=", StringComparison.Ordinal)).Arguments;
        string exposed = Assert.Single(lines, l => l.Keyword == "EXPOSE").Arguments;
        Assert.EndsWith($":{exposed}", urls);
    }

    [Fact]
    public void TheComposeFileBuildsTheDockerfileAndConnectsToItsOwnRedis()
    {
        string compose = File.ReadAllText(Path.Combine(ServiceFolder, "docker-compose.yml"));
        var services = Regex.Matches(compose, @"^  ([a-z][a-z0-9_-]*):\s*$", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("scoring", services);
        Assert.Contains("redis", services);

        string context = Regex.Match(compose, @"^\s+context:\s*(\S+)\s*$", RegexOptions.Multiline).Groups[1].Value;
        string dockerfile = Regex.Match(compose, @"^\s+dockerfile:\s*(\S+)\s*$", RegexOptions.Multiline).Groups[1].Value;
        string contextPath = Path.GetFullPath(Path.Combine(ServiceFolder, context));
        Assert.Equal(Path.GetFullPath(Root).TrimEnd(Path.DirectorySeparatorChar), contextPath.TrimEnd(Path.DirectorySeparatorChar));
        Assert.True(File.Exists(Path.Combine(contextPath, dockerfile)), $"the compose file builds '{dockerfile}', which does not exist");

        var dependsOn = Regex.Match(compose, @"depends_on:\s*\n((?:\s+- \S+\s*\n)+)").Groups[1].Value;
        foreach (Match dependency in Regex.Matches(dependsOn, @"- (\S+)")) Assert.Contains(dependency.Groups[1].Value, services);

        string redis = Regex.Match(compose, @"Scoring__RedisConnectionString:\s*(\S+)").Groups[1].Value;
        Assert.Contains(redis.Split(':')[0], services);
        Assert.Equal("6379", redis.Split(':')[1]);

        var lines = Instructions(File.ReadAllText(Path.Combine(contextPath, dockerfile)));
        string exposed = Assert.Single(lines, l => l.Keyword == "EXPOSE").Arguments;
        Assert.Matches(new Regex($@"- ""(?:[0-9.]+:)?\d+:{exposed}"""), compose);
        Assert.Matches(new Regex(@"Scoring__ModelPath:\s*/models/"), compose);
    }

    /// <summary>The Dockerfile's instructions (comments dropped, continuation lines joined).</summary>
    private static List<(string Keyword, string Arguments)> Instructions(string dockerfile)
    {
        var joined = dockerfile.Replace("\\\n", " ", StringComparison.Ordinal).Split('\n')
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'));
        return joined.Select(l =>
        {
            int space = l.IndexOf(' ');
            return (l[..space].ToUpperInvariant(), l[(space + 1)..].Trim());
        }).ToList();
    }
}
