using System.Text.RegularExpressions;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace MLNet.MoE.Tests.Architecture;

/// <summary>
/// The layer rule of docs/architecture.md, checked over the compiled assemblies: each source folder is a layer, and a
/// type may use the types of its own layer and of the layers below it, never of one above. The folder of each type
/// comes from the source file that declares it; the uses are every type the compiled code names (base types, fields,
/// signatures, method bodies, generic arguments).
/// </summary>
public class LayerTests
{
    /// <summary>The layers of MLNet.MoE, top first.</summary>
    public static readonly string[] LibraryLayers =
        { "Catalog", "Onnx", "TextClassification", "LanguageModel", "Pipeline", "HuggingFace", "Training", "Modeling", "Runtime" };

    /// <summary>The layers of MLNet.MoE.Core, top first.</summary>
    public static readonly string[] CoreLayers =
        { "Chat", "TextClassification", "LanguageModel", "TextTransforms", "DataView", "ModelFiles", "Onnx", "Tokenization", "MachineLearningAccess" };

    [Fact]
    public void LibraryLayersPointOneWayOnly() => AssertOneWay("MLNet.MoE", LibraryLayers);

    [Fact]
    public void CoreLayersPointOneWayOnly() => AssertOneWay("MLNet.MoE.Core", CoreLayers);

    [Fact]
    public void TheScanSeesUsesInSignaturesAndMethodBodies()
    {
        var uses = Uses("MLNet.MoE", TypeFolders(Path.Combine(TestPaths.RepositoryRoot, "src", "MLNet.MoE")));
        Assert.Contains("LanguageModel/LanguageModelTransformer uses Modeling/MoeCausalLM", uses);
        Assert.Contains("LanguageModel/LanguageModelTrainingLoop uses Training/TrainingEngine", uses);
        Assert.Contains("Catalog/MoeCatalog uses HuggingFace/HuggingFaceCheckpoint", uses);
    }

    [Fact]
    public void ModelingAndRuntimeKnowNothingOfMLNet()
    {
        var folderOf = TypeFolders(Path.Combine(TestPaths.RepositoryRoot, "src", "MLNet.MoE"));
        using var assembly = AssemblyDefinition.ReadAssembly(Path.Combine(AppContext.BaseDirectory, "MLNet.MoE.dll"));
        var uses = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in assembly.MainModule.GetTypes())
        {
            if (!folderOf.TryGetValue(Outermost(type).Name, out string? folder) || folder is not ("Modeling" or "Runtime")) continue;
            foreach (var used in UsedTypes(type))
            {
                if (used.Scope is AssemblyNameReference { Name: var name } && name.StartsWith("Microsoft.ML", StringComparison.Ordinal))
                    uses.Add($"{folder}/{Outermost(type).Name} uses {used.FullName}");
            }
        }
        Assert.True(uses.Count == 0, string.Join("\n", uses));
    }

    [Fact]
    public void TheCoreAssemblyHasNoTorchSharp()
    {
        using var core = AssemblyDefinition.ReadAssembly(typeof(MoeTokenizer).Assembly.Location);
        var references = core.MainModule.AssemblyReferences.Select(r => r.Name).ToList();
        Assert.DoesNotContain(references, r => r.StartsWith("TorchSharp", StringComparison.Ordinal));
        using var onnx = AssemblyDefinition.ReadAssembly(typeof(OnnxLanguageModelTransformer).Assembly.Location);
        Assert.DoesNotContain(onnx.MainModule.AssemblyReferences, r => r.Name.StartsWith("TorchSharp", StringComparison.Ordinal));
    }

    [Fact]
    public void NoSourceFileIsCompiledIntoTwoAssemblies()
    {
        foreach (string project in Directory.EnumerateFiles(Path.Combine(TestPaths.RepositoryRoot, "src"), "*.csproj", SearchOption.AllDirectories))
            Assert.DoesNotMatch(new Regex(@"<Compile\s+Include=""\.\."), File.ReadAllText(project));
    }

    private static void AssertOneWay(string assemblyName, string[] layers)
    {
        string sourceRoot = Path.Combine(TestPaths.RepositoryRoot, "src", assemblyName);
        var folderOf = TypeFolders(sourceRoot);
        Assert.All(folderOf.Values.Distinct(), folder => Assert.Contains(folder, layers));
        var violations = Uses(assemblyName, folderOf).Where(use =>
        {
            var parts = use.Split(" uses ");
            return Array.IndexOf(layers, parts[1].Split('/')[0]) < Array.IndexOf(layers, parts[0].Split('/')[0]);
        }).ToList();
        Assert.True(violations.Count == 0, $"{assemblyName}: layers used from below ({violations.Count}):\n" + string.Join("\n", violations));
    }

    /// <summary>Every use of one of the assembly's types by another, as "Folder/Type uses Folder/Type".</summary>
    private static SortedSet<string> Uses(string assemblyName, Dictionary<string, string> folderOf)
    {
        using var assembly = AssemblyDefinition.ReadAssembly(Path.Combine(AppContext.BaseDirectory, assemblyName + ".dll"));
        var module = assembly.MainModule;
        var uses = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in module.GetTypes())
        {
            if (!folderOf.TryGetValue(Outermost(type).Name, out string? from)) continue;
            foreach (var used in UsedTypes(type))
            {
                var definition = Resolve(used, module);
                if (definition == null || !folderOf.TryGetValue(Outermost(definition).Name, out string? to)) continue;
                if (Outermost(definition) != Outermost(type)) uses.Add($"{from}/{Outermost(type).Name} uses {to}/{Outermost(definition).Name}");
            }
        }
        return uses;
    }

    /// <summary>Top-level type name (without generic arity) → the folder of the file declaring it.</summary>
    private static Dictionary<string, string> TypeFolders(string sourceRoot)
    {
        var declaration = new Regex(@"^(?:public |internal |file )?(?:sealed |static |abstract |readonly |partial |record )*(?:class|record|struct|interface|enum) (?<name>\w+)(?<generic><[^>]+>)?", RegexOptions.Multiline);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(sourceRoot, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(sourceRoot, file);
            if (relative.StartsWith("obj", StringComparison.Ordinal) || relative.StartsWith("bin", StringComparison.Ordinal) || !relative.Contains(Path.DirectorySeparatorChar)) continue;
            string folder = relative[..relative.IndexOf(Path.DirectorySeparatorChar)];
            if (folder == "buildTransitive") continue;
            foreach (Match m in declaration.Matches(File.ReadAllText(file)))
            {
                string name = m.Groups["name"].Value;
                if (m.Groups["generic"].Success) name += "`" + (m.Groups["generic"].Value.Count(c => c == ',') + 1);
                map[name] = folder;
            }
        }
        return map;
    }

    private static TypeDefinition Outermost(TypeDefinition type)
    {
        while (type.DeclaringType != null) type = type.DeclaringType;
        return type;
    }

    private static TypeDefinition? Resolve(TypeReference reference, ModuleDefinition module)
    {
        while (reference is TypeSpecification specification) reference = specification.ElementType;
        if (reference is GenericParameter) return null;
        if (reference.Scope is ModuleDefinition || reference.Scope == module || reference.Module == module && reference.Scope is not AssemblyNameReference)
        {
            try
            {
                return reference.Resolve();
            }
            catch (AssemblyResolutionException)
            {
                return null;
            }
        }
        return null;
    }

    private static IEnumerable<TypeReference> UsedTypes(TypeDefinition type)
    {
        var found = new List<TypeReference>();
        void Add(TypeReference? t)
        {
            if (t == null) return;
            found.Add(t);
            if (t is GenericInstanceType generic) foreach (var a in generic.GenericArguments) Add(a);
            if (t is TypeSpecification specification) Add(specification.ElementType);
        }
        Add(type.BaseType);
        foreach (var i in type.Interfaces) Add(i.InterfaceType);
        foreach (var f in type.Fields) Add(f.FieldType);
        foreach (var p in type.Properties) Add(p.PropertyType);
        foreach (var e in type.Events) Add(e.EventType);
        foreach (var m in type.Methods)
        {
            Add(m.ReturnType);
            foreach (var p in m.Parameters) Add(p.ParameterType);
            if (!m.HasBody) continue;
            foreach (var v in m.Body.Variables) Add(v.VariableType);
            foreach (Instruction instruction in m.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference t: Add(t); break;
                    case MethodReference method:
                        Add(method.DeclaringType);
                        Add(method.ReturnType);
                        foreach (var p in method.Parameters) Add(p.ParameterType);
                        if (method is GenericInstanceMethod gm) foreach (var a in gm.GenericArguments) Add(a);
                        break;
                    case FieldReference field: Add(field.DeclaringType); Add(field.FieldType); break;
                }
            }
        }
        return found;
    }
}
