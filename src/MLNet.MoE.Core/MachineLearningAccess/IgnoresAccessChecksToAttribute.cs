// The runtime honours this attribute (declared by the assembly that uses it) and lets the assembly reach the
// non-public members of the named assembly. MLNet.MoE uses it for ML.NET's model persistence API, which ML.NET
// keeps internal (see Publicize.targets). MLNet.MoE and MLNet.MoE.Onnx apply it to themselves with this type.
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Data")]

namespace System.Runtime.CompilerServices;

/// <summary>Lets this assembly call the non-public members of the named assembly at run time.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
internal sealed class IgnoresAccessChecksToAttribute : Attribute
{
    /// <summary>Creates the attribute for the named assembly.</summary>
    public IgnoresAccessChecksToAttribute(string assemblyName) => AssemblyName = assemblyName;

    /// <summary>The short name of the assembly whose non-public members may be used.</summary>
    public string AssemblyName { get; }
}
