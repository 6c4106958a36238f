namespace MLNet.MoE;

/// <summary>Identifies a training token stream: its length and an FNV-1a hash of its ids.</summary>
/// <param name="Length">Tokens in the stream.</param>
/// <param name="Hash">FNV-1a 64-bit hash of the ids.</param>
internal readonly record struct DataFingerprint(long Length, ulong Hash)
{
    /// <summary>The fingerprint of <paramref name="stream"/>.</summary>
    public static DataFingerprint Of(IReadOnlyList<int> stream)
    {
        ulong hash = 14695981039346656037UL;
        foreach (int id in stream)
        {
            unchecked
            {
                hash = (hash ^ (uint)id) * 1099511628211UL;
            }
        }
        return new DataFingerprint(stream.Count, hash);
    }
}
