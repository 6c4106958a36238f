using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Draws training windows of <c>length + 1</c> tokens at seeded random offsets of a token stream (an array, or a token
/// store's memory map) and cuts them into inputs and next-token targets. The offsets depend only on the seed and the
/// stream's length, so a stream in memory and the same stream mapped from disk give the same windows.
/// </summary>
internal sealed class WindowSampler
{
    private readonly ITokenStream stream;
    private readonly int length;
    private readonly DeterministicRandom random;
    private readonly int[] window;

    /// <summary>Creates a sampler of windows of <paramref name="length"/> inputs over <paramref name="stream"/> (at least length + 1 tokens).</summary>
    public WindowSampler(ITokenStream stream, int length, int seed)
    {
        if (stream.Length < length + 1) throw new ArgumentException($"The token stream has {stream.Length} tokens, fewer than the window length + 1 ({length + 1}).", nameof(stream));
        this.stream = stream;
        this.length = length;
        random = new DeterministicRandom(seed);
        window = new int[length + 1];
    }

    /// <summary>The position in the random sequence of window offsets (saved in training checkpoints).</summary>
    public ulong State
    {
        get => random.State;
        set => random.State = value;
    }

    /// <summary>The next batch: inputs and targets, each [batch, length] int64 on <paramref name="device"/>.</summary>
    public (Tensor Inputs, Tensor Targets) Next(int batch, Device device)
    {
        var inputs = new long[batch * length];
        var targets = new long[batch * length];
        for (int b = 0; b < batch; b++)
        {
            long start = random.Next(stream.Length - length);
            stream.Read(start, window);
            for (int i = 0; i < length; i++)
            {
                inputs[b * length + i] = window[i];
                targets[b * length + i] = window[i + 1];
            }
        }
        return (torch.tensor(inputs, new long[] { batch, length }).to(device), torch.tensor(targets, new long[] { batch, length }).to(device));
    }
}
