using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;

namespace MLNet.MoE.Tests.Documentation;

/// <summary>
/// The names a page can mean: the types of the library's assemblies (every accessibility, as compiled), the words of the
/// repository's other code (samples, tests, tools, templates), and the public types of every assembly the tests run with
/// (ML.NET, TorchSharp, ONNX Runtime, the runtime's own).
/// </summary>
internal static partial class DeclaredNames
{
    /// <summary>The library's assemblies, whose types the documentation describes.</summary>
    public static IReadOnlyList<Assembly> LibraryAssemblies { get; } =
        new[] { "MLNet.MoE.Core", "MLNet.MoE", "MLNet.MoE.Onnx", "MLNet.MoE.ModelBuilder" }.Select(Assembly.Load).ToList();

    /// <summary>Every type the library declares (public or not), by simple name; compiler-generated and embedded types left out.</summary>
    public static IReadOnlyDictionary<string, List<Type>> LibraryTypes { get; } = LibraryAssemblies
        .SelectMany(a => a.GetTypes())
        .Where(t => !t.Name.Contains('<') && !t.Name.Contains('>') && t.Namespace is { } ns && (ns.StartsWith("MLNet.MoE", StringComparison.Ordinal) || ns == "Microsoft.ML"))
        .GroupBy(t => StripArity(t.Name), StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);

    /// <summary>
    /// Every identifier-like word of the repository's code (C#, Python, shell, JSON, project files) outside the
    /// libraries' sources and these tests: the samples', tests' and tools' types, members, settings, columns and the Python names they use.
    /// </summary>
    public static IReadOnlySet<string> RepositoryCodeWords { get; } = FindRepositoryCodeWords();

    /// <summary>The type names of every assembly beside the tests and of the runtime (ML.NET's internal <c>ModelLoadContext</c> included).</summary>
    public static IReadOnlySet<string> ReferencedTypes { get; } = FindReferencedTypes();

    /// <summary>Whether one of the library's types named <paramref name="typeName"/> has a member <paramref name="memberName"/> of any accessibility, its own or inherited.</summary>
    public static bool LibraryTypeHasMember(string typeName, string memberName, out Type? memberType)
    {
        memberType = null;
        if (!LibraryTypes.TryGetValue(typeName, out var candidates)) return false;
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
        foreach (var type in candidates)
        {
            for (Type? t = type; t != null; t = t.BaseType)
            {
                var members = t.GetMember(memberName, all);
                if (members.Length == 0) continue;
                memberType = members[0] switch
                {
                    PropertyInfo p => p.PropertyType,
                    FieldInfo f => f.FieldType,
                    MethodInfo m => m.ReturnType,
                    Type nested => nested,
                    _ => null,
                };
                return true;
            }
        }
        return false;
    }

    /// <summary>Whether one of the library's types, public or not, has a member named <paramref name="memberName"/>.</summary>
    public static bool IsLibraryMemberName(string memberName) =>
        LibraryTypes.Values.SelectMany(types => types).Any(t => t.GetMember(memberName, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static).Length > 0);

    /// <summary><c>SharedPredictionEngine`2</c> → <c>SharedPredictionEngine</c>.</summary>
    public static string StripArity(string name) => name.Split('`')[0];

    /// <summary>The documentation tests' own folder, whose words are the names they look for.</summary>
    private const string OwnFolder = "tests/MLNet.MoE.Tests/Documentation/";

    private static HashSet<string> FindRepositoryCodeWords()
    {
        string[] code = { ".cs", ".py", ".sh", ".json", ".csproj", ".props", ".targets", ".yml", ".mbconfig" };
        var words = new HashSet<string>(StringComparer.Ordinal);
        string root = TestPaths.RepositoryRoot;
        foreach (string folder in new[] { "samples", "tests", "tools", "templates" })
        {
            string path = Path.Combine(root, folder);
            if (!Directory.Exists(path)) continue;
            foreach (string file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories))
            {
                if (!code.Contains(Path.GetExtension(file), StringComparer.Ordinal) && Path.GetFileName(file) != "Dockerfile") continue;
                string relative = Path.GetRelativePath(root, file).Replace('\\', '/');
                if (relative.Split('/').Any(p => p is "bin" or "obj") || relative.StartsWith(OwnFolder, StringComparison.Ordinal)) continue;
                foreach (Match word in Word().Matches(File.ReadAllText(file))) words.Add(word.Value);
            }
        }
        return words;
    }

    private static HashSet<string> FindReferencedTypes()
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.GetFiles(AppContext.BaseDirectory, "*.dll"));
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (string path in paths.Distinct(StringComparer.Ordinal))
        {
            try
            {
                using var stream = File.OpenRead(path);
                using var pe = new PEReader(stream);
                if (!pe.HasMetadata) continue;
                var reader = pe.GetMetadataReader();
                foreach (var handle in reader.TypeDefinitions)
                {
                    var type = reader.GetTypeDefinition(handle);
                    names.Add(StripArity(reader.GetString(type.Name)));
                }
            }
            catch (BadImageFormatException)
            {
                // A native library beside the tests: no types.
            }
        }
        return names;
    }

    [GeneratedRegex(@"[A-Za-z_]\w*")]
    private static partial Regex Word();
}
