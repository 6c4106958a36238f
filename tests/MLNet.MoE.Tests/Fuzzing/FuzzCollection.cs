namespace MLNet.MoE.Tests.Fuzzing;

/// <summary>The fuzz tests run one after another: each case's memory bound reads the process's allocation counter.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuzzCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Loader fuzzing";
}
