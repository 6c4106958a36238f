using System.Text.RegularExpressions;

namespace MLNet.MoE.Tests.Documentation;

/// <summary>
/// The public types and members as recorded in <c>tests/MLNet.MoE.Tests/PublicApi/*.txt</c> (PublicApiGenerator's
/// form: one declaration a line, members indented under their type), by simple name. A member's type is kept when it is
/// one of the recorded types, so that a chain such as <c>mlContext.MoE().Trainers.LanguageModel</c> can be followed.
/// </summary>
internal sealed partial class RecordedPublicApi
{
    private readonly Dictionary<string, RecordedType> types = new(StringComparer.Ordinal);

    private RecordedPublicApi(IEnumerable<string> files)
    {
        foreach (string file in files)
        {
            RecordedType? current = null;
            foreach (string line in File.ReadLines(file))
            {
                if (TypeDeclaration().Match(line) is { Success: true } type)
                {
                    string name = type.Groups["name"].Value;
                    var bases = SplitOutsideBrackets(type.Groups["bases"].Value).Select(SimpleName).ToList();
                    current = new RecordedType(name, type.Groups["kind"].Value == "enum", bases);
                    types[name] = current;
                    continue;
                }
                if (current == null) continue;
                if (current.IsEnum && EnumMember().Match(line) is { Success: true } value)
                {
                    current.Members[value.Groups["name"].Value] = null;
                }
                else if (Member().Match(line) is { Success: true } member)
                {
                    string name = member.Groups["name"].Value;
                    if (name == current.Name) continue;   // a constructor
                    string result = SimpleName(member.Groups["type"].Value);
                    current.Members.TryAdd(name, result);
                    if (member.Groups["this"].Success) ExtensionMethods.TryAdd(name, result);
                }
            }
        }
    }

    /// <summary>The recorded API of every assembly.</summary>
    public static RecordedPublicApi Instance { get; } = new(
        Directory.GetFiles(Path.Combine(TestPaths.RepositoryRoot, "tests", "MLNet.MoE.Tests", "PublicApi"), "*.txt")
            .Where(f => !f.EndsWith(".received.txt", StringComparison.Ordinal)));

    /// <summary>Extension methods of the recorded static classes (<c>MoE</c>, <c>TokenizeForMoe</c>, ...), with their result type's simple name.</summary>
    public Dictionary<string, string> ExtensionMethods { get; } = new(StringComparer.Ordinal);

    /// <summary>How many public types are recorded.</summary>
    public int TypeCount => types.Count;

    /// <summary>Whether some recorded public type has a public member named <paramref name="memberName"/>.</summary>
    public bool IsMemberName(string memberName) => types.Values.Any(t => t.Members.ContainsKey(memberName));

    /// <summary>Whether <paramref name="typeName"/> is a recorded public type.</summary>
    public bool HasType(string typeName) => types.ContainsKey(typeName);

    /// <summary>
    /// Whether <paramref name="typeName"/> or one of its recorded base types has the public member
    /// <paramref name="memberName"/>; <paramref name="memberType"/> is the simple name of the member's type.
    /// </summary>
    public bool TryGetMember(string typeName, string memberName, out string? memberType)
    {
        for (var pending = new Queue<string>([typeName]); pending.Count > 0;)
        {
            if (!types.TryGetValue(pending.Dequeue(), out var type)) continue;
            if (type.Members.TryGetValue(memberName, out memberType)) return true;
            foreach (string baseType in type.Bases) pending.Enqueue(baseType);
        }
        memberType = null;
        return false;
    }

    /// <summary><c>MLNet.MoE.MoeTrainers</c> → <c>MoeTrainers</c>; generic arguments, nullability and arrays dropped.</summary>
    private static string SimpleName(string type)
    {
        int generic = type.IndexOf('<');
        if (generic >= 0) type = type[..generic];
        type = type.TrimEnd('?', '[', ']');
        return type[(type.LastIndexOf('.') + 1)..];
    }

    /// <summary>Splits a base list at the commas that are not inside generic arguments.</summary>
    private static IEnumerable<string> SplitOutsideBrackets(string list)
    {
        int depth = 0, start = 0;
        for (int i = 0; i <= list.Length; i++)
        {
            if (i == list.Length || (list[i] == ',' && depth == 0))
            {
                string part = list[start..i].Trim();
                if (part.Length > 0) yield return part;
                start = i + 1;
            }
            else if (list[i] == '<') depth++;
            else if (list[i] == '>') depth--;
        }
    }

    private sealed record RecordedType(string Name, bool IsEnum, List<string> Bases)
    {
        public Dictionary<string, string?> Members { get; } = new(StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^\s{4}public (?:[a-z]+ )*(?<kind>class|struct|interface|enum|record) (?<name>\w+)(?:<[^>]*>)?(?: : (?<bases>.+?))?\s*$")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"^\s{8}(?<name>\w+) = ")]
    private static partial Regex EnumMember();

    [GeneratedRegex(@"^\s{8}public (?:(?:static|abstract|virtual|override|sealed|readonly|required|const|event|new) )*(?<type>[\w.<>\[\], ?]+?) (?<name>\w+)(?:<[^>]*>)?(?:\((?<this>this )?| \{| =|;)")]
    private static partial Regex Member();
}
