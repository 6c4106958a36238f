using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// What every trainer's <c>Fit</c> sets up before it trains, the same way for each task: the log channel, the seed (the
/// option, else the MLContext's), the device from the option and the MLContext's GPU settings, the activation dtype,
/// the kernels the start-up probe chose (probed and logged at their first use, so a run refused by the trainer's own
/// checks costs no probe), and TorchSharp's global seed. Disposing it closes the channel.
/// </summary>
internal sealed class TrainingSession : IDisposable
{
    private readonly Lazy<KernelSet> kernels;

    private TrainingSession(IChannel channel, int seed, Device device, ScalarType computeType, Func<KernelSet> selectKernels)
    {
        Channel = channel;
        Seed = seed;
        Device = device;
        ComputeType = computeType;
        kernels = new Lazy<KernelSet>(selectKernels, LazyThreadSafetyMode.None);
    }

    /// <summary>The trainer's log channel.</summary>
    public IChannel Channel { get; }

    /// <summary>The run's seed.</summary>
    public int Seed { get; }

    /// <summary>The device the model trains on.</summary>
    public Device Device { get; }

    /// <summary>The dtype activations are computed in.</summary>
    public ScalarType ComputeType { get; }

    /// <summary>Fused kernel or managed code per operation, and the routed experts' computation (probed at the first read).</summary>
    public KernelSet Kernels => kernels.Value;

    /// <summary>Starts the session of trainer <paramref name="trainerName"/> with <paramref name="options"/> (validated before).</summary>
    public static TrainingSession Start(IHostEnvironment env, MoeTrainerOptions options, string trainerName)
    {
        var channel = env.Register(trainerName).Start("Training");
        try
        {
            int seed = options.Seed ?? (env as IHostEnvironmentInternal)?.Seed ?? 1;
            var device = DeviceSelector.Select(env, options.Device, options.DeviceId);
            var computeType = options.ComputeType(device);
            torch.manual_seed(seed);
            return new TrainingSession(channel, seed, device, computeType, () => options.SelectKernels(device, computeType, channel));
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>Closes the channel.</summary>
    public void Dispose() => Channel.Dispose();
}
