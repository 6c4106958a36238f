using TorchSharp;

namespace MLNet.MoE;

/// <summary>Reports on TorchSharp's native library: whether it loads and which libtorch it found.</summary>
internal static class TorchNative
{
    /// <summary>
    /// Loads TorchSharp's native backend (libtorch) if it is not loaded yet and returns libtorch's version.
    /// Throws <see cref="InvalidOperationException"/> with advice when the native library cannot be loaded.
    /// </summary>
    public static string EnsureLoaded()
    {
        try
        {
            return torch.__version__;
        }
        catch (Exception e) when (e is TypeInitializationException or NotSupportedException or DllNotFoundException or InvalidOperationException)
        {
            throw new InvalidOperationException(
                "TorchSharp's native library could not be loaded. Reference a libtorch backend package in the app " +
                "(TorchSharp-cpu, or a CUDA backend), or put a libtorch folder on LD_LIBRARY_PATH. On Linux with a " +
                "libstdc++ older than GCC 13, make sure the MLNet.MoE build targets ran (see docs/troubleshooting.md). " +
                "Inner error: " + e.Message, e);
        }
    }
}
