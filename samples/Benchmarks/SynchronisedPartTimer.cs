using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Times the parts of a training step run one after another: each lap waits for the device to finish the work queued
/// so far (on CUDA) and adds the time since the previous lap to the part just ended.
/// </summary>
internal sealed class SynchronisedPartTimer(Device device)
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private double last;

    /// <summary>Milliseconds per part, summed over the laps since the last <see cref="Reset"/>.</summary>
    public Dictionary<string, double> Totals { get; } = new();

    /// <summary>Forgets the time summed so far (after the warm-up steps).</summary>
    public void Reset() => Totals.Clear();

    /// <summary>Waits for the device and starts timing the next part without adding the time since the last lap to any part.</summary>
    public void Start()
    {
        Synchronise();
        last = clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Waits for the device and adds the time since the previous lap (or <see cref="Start"/>) to <paramref name="part"/>.</summary>
    public void Lap(string part)
    {
        Synchronise();
        double now = clock.Elapsed.TotalMilliseconds;
        Totals[part] = Totals.GetValueOrDefault(part) + now - last;
        last = now;
    }

    /// <summary>Waits until the device has run the work queued so far; CPU work has already run when the call returns.</summary>
    public void Synchronise()
    {
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize();
    }
}
