namespace MLNet.MoE;

/// <summary>Where training and scoring run.</summary>
public enum ComputeDevice
{
    /// <summary>CUDA when <c>MLContext.GpuDeviceId</c> is set and a GPU is available, else the CPU (ML.NET's rule for its TorchSharp trainers).</summary>
    Auto,

    /// <summary>The CPU, always.</summary>
    Cpu,

    /// <summary>An NVIDIA GPU; fails when none is available unless <c>MLContext.FallbackToCpu</c> is true.</summary>
    Cuda,
}
