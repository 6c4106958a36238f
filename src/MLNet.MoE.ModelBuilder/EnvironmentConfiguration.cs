using System.Text.Json.Serialization;

namespace MLNet.MoE;

/// <summary>The <c>Environment</c> of a <c>.mbconfig</c>: where the model trains.</summary>
public sealed record EnvironmentConfiguration
{
    /// <summary>The <see cref="Type"/> that trains on the CPU.</summary>
    public const string LocalCpu = "LocalCPU";

    /// <summary>The <see cref="Type"/> that trains on an NVIDIA GPU.</summary>
    public const string LocalGpu = "LocalGPU";

    /// <summary>LocalCPU or LocalGPU.</summary>
    public required string Type { get; init; }

    /// <summary>The library's device for <see cref="Type"/>: <see cref="ComputeDevice.Cuda"/> for LocalGPU, otherwise <see cref="ComputeDevice.Cpu"/>.</summary>
    [JsonIgnore]
    public ComputeDevice Device => Type == LocalGpu ? ComputeDevice.Cuda : ComputeDevice.Cpu;
}
