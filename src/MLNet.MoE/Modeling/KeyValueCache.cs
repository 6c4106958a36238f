using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Keys and values of the tokens seen so far, per attention layer, for step-by-step generation. Like Hugging Face's
/// DeepseekV3 cache it holds the expanded per-head keys (with the rotary part) and values.
/// </summary>
internal sealed class KeyValueCache : IDisposable
{
    private readonly Tensor?[] keys;
    private readonly Tensor?[] values;

    /// <summary>Creates an empty cache for <paramref name="layers"/> attention layers.</summary>
    public KeyValueCache(int layers)
    {
        keys = new Tensor?[layers];
        values = new Tensor?[layers];
    }

    /// <summary>Number of positions cached (the same in every layer once a forward pass completed).</summary>
    public long Length => LengthOf(0);

    /// <summary>Number of positions cached for layer <paramref name="layer"/>.</summary>
    public long LengthOf(int layer) => keys[layer]?.shape[2] ?? 0;

    /// <summary>Appends key/value [B, heads, T, d] of layer <paramref name="layer"/> and returns the full cached key/value.</summary>
    public (Tensor Key, Tensor Value) Append(int layer, Tensor key, Tensor value)
    {
        Tensor newKey = keys[layer] is { } oldKey ? torch.cat(new[] { oldKey, key }, dim: 2) : key.alias();
        Tensor newValue = values[layer] is { } oldValue ? torch.cat(new[] { oldValue, value }, dim: 2) : value.alias();
        newKey.DetachFromDisposeScope();
        newValue.DetachFromDisposeScope();
        keys[layer]?.Dispose();
        values[layer]?.Dispose();
        keys[layer] = newKey;
        values[layer] = newValue;
        return (newKey, newValue);
    }

    /// <summary>Frees the cached tensors.</summary>
    public void Dispose()
    {
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i]?.Dispose();
            values[i]?.Dispose();
            keys[i] = null;
            values[i] = null;
        }
    }
}
