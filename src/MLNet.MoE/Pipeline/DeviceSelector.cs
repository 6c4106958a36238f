using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Chooses the TorchSharp device from an option and the MLContext's <c>GpuDeviceId</c> / <c>FallbackToCpu</c>.</summary>
internal static class DeviceSelector
{
    public static Device Select(IHostEnvironment env, ComputeDevice requested, int? deviceId)
    {
        TorchNative.EnsureLoaded();
        var settings = env as IHostEnvironmentInternal;
        int? gpuId = deviceId ?? settings?.GpuDeviceId;
        bool fallback = settings?.FallbackToCpu ?? false;
        bool wantCuda = requested == ComputeDevice.Cuda || requested == ComputeDevice.Auto && gpuId.HasValue;
        if (!wantCuda) return torch.CPU;
        bool available = torch.TryInitializeDeviceType(DeviceType.CUDA) && torch.cuda.is_available();
        if (available) return torch.device(DeviceType.CUDA, gpuId ?? 0);
        if (fallback || requested == ComputeDevice.Auto && fallback) return torch.CPU;
        throw new InvalidOperationException(
            "CUDA was requested (Device = Cuda or MLContext.GpuDeviceId set) but no CUDA device is available to TorchSharp, " +
            "and MLContext.FallbackToCpu is false. Reference a CUDA libtorch (see docs/gpu.md), or set FallbackToCpu = true.");
    }
}
