// ML.NET's model persistence API (ModelSaveContext, ModelLoadContext) is internal to ML.NET; the compiler sees a
// publicized copy of it (Publicize.targets) and these attributes let the calls through at run time. The attribute type
// is MLNet.MoE.Core's (Runtime/IgnoresAccessChecksToAttribute.cs).
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Data")]
