using System.Reflection;
using PublicApiGenerator;

namespace MLNet.MoE.Tests.PublicApi;

/// <summary>
/// The public surface of each library assembly is recorded in <c>tests/MLNet.MoE.Tests/PublicApi/&lt;assembly&gt;.txt</c>;
/// a change to it fails here until the file is updated with the change (the test writes the new surface beside it as
/// <c>.received.txt</c>, to review and copy over), so no public type or member appears or disappears unnoticed.
/// </summary>
public class PublicApiTests
{
    public static TheoryData<string> Assemblies => new() { "MLNet.MoE", "MLNet.MoE.Core", "MLNet.MoE.Onnx", "MLNet.MoE.ModelBuilder" };

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void ThePublicSurfaceIsTheRecordedOne(string assemblyName)
    {
        var assembly = Assembly.Load(assemblyName);
        string actual = Normalize(assembly.GeneratePublicApi(new ApiGeneratorOptions { IncludeAssemblyAttributes = false, AllowNamespacePrefixes = new[] { "Microsoft.ML" } }));
        string folder = Path.Combine(TestPaths.RepositoryRoot, "tests", "MLNet.MoE.Tests", "PublicApi");
        string approved = Path.Combine(folder, assemblyName + ".txt");
        string received = Path.Combine(folder, assemblyName + ".received.txt");
        string expected = File.Exists(approved) ? Normalize(File.ReadAllText(approved)) : "";
        if (actual != expected)
        {
            File.WriteAllText(received, actual);
            Assert.Fail($"The public surface of {assemblyName} differs from {approved}. Review {received} and copy it over the recorded file if the change is intended.");
        }
        if (File.Exists(received)) File.Delete(received);
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd() + "\n";
}
