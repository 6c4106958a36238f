using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Right-padded id batches as tensors (<see cref="TextClassificationPadding"/>), and sequences scored in batches.</summary>
internal static class TextClassificationBatches
{
    /// <summary>Ids [B, T] right-padded with <paramref name="padId"/> to the longest sequence, and lengths [B] (int64), on <paramref name="device"/>.</summary>
    public static (Tensor Ids, Tensor Lengths) Pad(IReadOnlyList<int[]> sequences, int padId, Device device)
    {
        var (ids, lengths, width) = TextClassificationPadding.Pad(sequences, padId);
        return (torch.tensor(ids, new long[] { sequences.Count, width }, device: device), torch.tensor(lengths, device: device));
    }

    /// <summary>
    /// Class probabilities [N][C] of <paramref name="sequences"/> in eval mode, in batches of similar length
    /// (sorted by length, so little padding is computed), in the input order.
    /// </summary>
    /// <remarks><paramref name="ngrams"/>: each row's n-gram bucket ids, for a classifier with a wide branch (else null).</remarks>
    public static float[][] Probabilities(MoeTextClassifier model, IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? ngrams, int batchSize, int padId)
    {
        var result = new float[sequences.Count][];
        using var noGrad = torch.no_grad();
        foreach (var chunk in TextClassificationPadding.Batches(sequences, batchSize))
        {
            using var scope = torch.NewDisposeScope();
            var (ids, lengths) = Pad(chunk.Select(i => sequences[i]).ToList(), padId, model.Device);
            using var context = new ForwardContext { Adapters = model.Adapters };
            var bag = model.NgramBuckets > 0 && ngrams != null ? NgramBatch.Of(chunk.Select(i => ngrams[i]).ToList(), model.Device) : null;
            var probabilities = nn.functional.softmax(model.Forward(ids, lengths, bag, context).Logits, 1).cpu();
            var values = probabilities.data<float>().ToArray();
            int c = model.ClassCount;
            for (int b = 0; b < chunk.Length; b++) result[chunk[b]] = values.AsSpan(b * c, c).ToArray();
        }
        return result;
    }

    /// <summary>
    /// The mean of the class probabilities of several classifiers over the same classes (an ensemble), [N][C], in the input
    /// order; with one classifier, its own probabilities.
    /// </summary>
    public static float[][] EnsembleProbabilities(IReadOnlyList<MoeTextClassifier> members, IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? ngrams, int batchSize, int padId)
    {
        if (members.Count == 0) throw new ArgumentException("An ensemble needs at least one classifier.", nameof(members));
        var mean = Probabilities(members[0], sequences, ngrams, batchSize, padId);
        if (members.Count == 1) return mean;
        for (int m = 1; m < members.Count; m++)
        {
            var p = Probabilities(members[m], sequences, ngrams, batchSize, padId);
            for (int i = 0; i < mean.Length; i++)
            {
                for (int c = 0; c < mean[i].Length; c++) mean[i][c] += p[i][c];
            }
        }
        foreach (var row in mean)
        {
            for (int c = 0; c < row.Length; c++) row[c] /= members.Count;
        }
        return mean;
    }
}
