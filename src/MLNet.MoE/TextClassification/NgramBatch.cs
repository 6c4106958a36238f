using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// A batch's n-gram occurrences for a classifier's wide branch, flattened: each occurrence's bucket, the batch row it
/// belongs to and its weight 1/√(the row's occurrences), all [N] on one device. A row without n-grams adds nothing.
/// </summary>
/// <param name="Buckets">Bucket ids (int64).</param>
/// <param name="Rows">Row of each occurrence in the batch (int64).</param>
/// <param name="Weights">Weight of each occurrence (float32).</param>
internal sealed record NgramBatch(Tensor Buckets, Tensor Rows, Tensor Weights)
{
    /// <summary>The occurrences of <paramref name="rows"/> (each row's bucket ids, from <see cref="TextClassificationNgrams"/>) on <paramref name="device"/>.</summary>
    public static NgramBatch Of(IReadOnlyList<int[]> rows, Device device)
    {
        int total = rows.Sum(r => r.Length);
        var buckets = new long[total];
        var owners = new long[total];
        var weights = new float[total];
        int at = 0;
        for (int row = 0; row < rows.Count; row++)
        {
            float weight = TextClassificationNgrams.Weight(rows[row].Length);
            foreach (int bucket in rows[row])
            {
                buckets[at] = bucket;
                owners[at] = row;
                weights[at++] = weight;
            }
        }
        return new NgramBatch(tensor(buckets, device: device), tensor(owners, device: device), tensor(weights, device: device));
    }
}
