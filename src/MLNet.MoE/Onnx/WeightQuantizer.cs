namespace MLNet.MoE;

/// <summary>
/// Symmetric block quantization of row-major matrices [rows, cols] to 4 or 8 bits, in the layout of ONNX Runtime's
/// <c>MatMulNBits</c> and <c>QMoE</c>: per row, blocks of <c>blockSize</c> inputs (the last one zero-padded), one float
/// scale per block, values stored unsigned with the default zero point 2^(bits−1), low nibble first for 4 bits.
/// </summary>
internal static class WeightQuantizer
{
    /// <summary>Packed values [rows, blocks, blockSize·bits/8], scales [rows, blocks], and blocks per row.</summary>
    public readonly record struct Result(byte[] Packed, float[] Scales, long BlocksPerRow);

    public static Result Quantize(float[] values, long rows, long cols, int bits, int blockSize)
    {
        if (bits is not (4 or 8)) throw new ArgumentOutOfRangeException(nameof(bits), bits, "Only 4- and 8-bit weights are supported.");
        long blocks = (cols + blockSize - 1) / blockSize;
        int bytesPerBlock = blockSize * bits / 8;
        int maxQ = (1 << (bits - 1)) - 1;
        int zero = 1 << (bits - 1);
        var packed = new byte[rows * blocks * bytesPerBlock];
        var scales = new float[rows * blocks];
        var q = new int[blockSize];
        for (long r = 0; r < rows; r++)
        {
            for (long b = 0; b < blocks; b++)
            {
                long start = r * cols + b * blockSize;
                int count = (int)Math.Min(blockSize, cols - b * blockSize);
                float absMax = 0;
                for (int i = 0; i < count; i++) absMax = Math.Max(absMax, Math.Abs(values[start + i]));
                float scale = absMax / maxQ;
                scales[r * blocks + b] = scale;
                for (int i = 0; i < blockSize; i++)
                {
                    int v = i < count && scale > 0 ? (int)Math.Round(values[start + i] / scale, MidpointRounding.ToEven) : 0;
                    q[i] = Math.Clamp(v, -maxQ - 1, maxQ) + zero;
                }
                long offset = (r * blocks + b) * bytesPerBlock;
                if (bits == 8)
                {
                    for (int i = 0; i < blockSize; i++) packed[offset + i] = (byte)q[i];
                }
                else
                {
                    for (int i = 0; i < blockSize; i += 2) packed[offset + i / 2] = (byte)(q[i] | (q[i + 1] << 4));
                }
            }
        }
        return new Result(packed, scales, blocks);
    }
}
