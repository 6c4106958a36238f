namespace MLNet.MoE.Tests.Fuzzing;

/// <summary>How a generated case damages a file's bytes.</summary>
public enum MutationKind
{
    /// <summary>XOR one to three bytes.</summary>
    Flip,

    /// <summary>Cut the file short.</summary>
    Truncate,

    /// <summary>Append bytes past the end.</summary>
    Extend,

    /// <summary>Overwrite a run of bytes with 0xFF (large lengths and counts in binary headers).</summary>
    Saturate,
}

/// <summary>
/// One damage to a byte array: the kind, where (a fraction of the length, in millionths) and how much. Printed by
/// FsCheck when a case fails, so a failing case can be kept as a regression test.
/// </summary>
public sealed record FileMutation(MutationKind Kind, int PositionPpm, int Amount)
{
    /// <summary>Applies the damage to a copy of <paramref name="bytes"/>; <paramref name="windowStart"/> and
    /// <paramref name="windowLength"/> restrict where it lands (default: the whole array).</summary>
    public byte[] Apply(byte[] bytes, int windowStart = 0, int windowLength = -1)
    {
        if (windowLength < 0) windowLength = bytes.Length - windowStart;
        int position = windowStart + (int)((long)PositionPpm * Math.Max(windowLength - 1, 0) / 1_000_000);
        switch (Kind)
        {
            case MutationKind.Flip:
            {
                byte[] copy = (byte[])bytes.Clone();
                for (int i = 0; i < 1 + Amount % 3; i++)
                {
                    int at = Math.Min(position + i * 7, copy.Length - 1);
                    copy[at] ^= (byte)(1 + Amount % 255);
                }
                return copy;
            }
            case MutationKind.Truncate:
                return bytes[..position];
            case MutationKind.Extend:
            {
                var random = new Random(Amount);
                byte[] tail = new byte[1 + Amount % 4096];
                random.NextBytes(tail);
                return [.. bytes, .. tail];
            }
            default:
            {
                byte[] copy = (byte[])bytes.Clone();
                for (int i = position; i < Math.Min(copy.Length, position + 1 + Amount % 8); i++) copy[i] = 0xFF;
                return copy;
            }
        }
    }
}
