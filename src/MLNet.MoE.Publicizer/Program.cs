using Mono.Cecil;

namespace MLNet.MoE.Publicizer;

/// <summary>
/// Writes a publicized copy of a reference assembly: every type, field and non-virtual method becomes public.
/// Usage: <c>MLNet.MoE.Publicizer input.dll output.dll</c>. The output is used only as a compile-time reference;
/// at run time the real assembly is loaded and <c>IgnoresAccessChecksToAttribute</c> lets the calls through.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: MLNet.MoE.Publicizer <input.dll> <output.dll>");
            return 2;
        }
        string input = args[0];
        string output = args[1];
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(Path.GetDirectoryName(Path.GetFullPath(input))!);
        using (AssemblyDefinition assembly = AssemblyDefinition.ReadAssembly(input, new ReaderParameters { AssemblyResolver = resolver }))
        {
            foreach (TypeDefinition type in assembly.MainModule.GetTypes())
            {
                Publicize(type);
            }
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
            string temp = output + ".tmp";
            assembly.Write(temp);
            File.Move(temp, output, overwrite: true);
        }
        return 0;
    }

    private static void Publicize(TypeDefinition type)
    {
        if (type.IsNested)
        {
            type.IsNestedPublic = true;
        }
        else
        {
            type.IsPublic = true;
        }
        foreach (FieldDefinition field in type.Fields)
        {
            // Event backing fields share their event's name; making them public would clash in C#.
            if (type.Events.Any(e => e.Name == field.Name)) continue;
            field.IsPublic = true;
        }
        foreach (MethodDefinition method in type.Methods)
        {
            // Widening a virtual member's access would break overriders compiled against the real assembly.
            if (method.IsVirtual) continue;
            method.IsPublic = true;
        }
    }
}
