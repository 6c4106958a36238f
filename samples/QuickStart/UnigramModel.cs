namespace MLNet.MoE.Samples.QuickStart;

/// <summary>
/// The baseline a language model must beat: token frequencies counted on training data (add-one smoothing over the
/// vocabulary), scored on other data with the same tokenizer. Its cross-entropy is the entropy of the token
/// distribution; a model that uses context should be far below it.
/// </summary>
internal sealed class UnigramModel
{
    private readonly double[] logProbabilities;

    private UnigramModel(double[] logProbabilities) => this.logProbabilities = logProbabilities;

    /// <summary>Counts the tokens of <paramref name="documents"/> plus one end-of-text token per document.</summary>
    public static UnigramModel Fit(IEnumerable<IReadOnlyList<int>> documents, int vocabularySize, int endOfTextId)
    {
        var counts = new double[vocabularySize];
        Array.Fill(counts, 1.0);
        foreach (var document in documents)
        {
            foreach (int id in document) counts[id]++;
            counts[endOfTextId]++;
        }
        double total = counts.Sum();
        return new UnigramModel(counts.Select(c => Math.Log(c / total)).ToArray());
    }

    /// <summary>Mean cross-entropy (nats per token) of <paramref name="documents"/>' tokens, as the language model scores them.</summary>
    public double CrossEntropy(IEnumerable<IReadOnlyList<int>> documents)
    {
        double sum = 0;
        long count = 0;
        foreach (var document in documents)
        {
            foreach (int id in document)
            {
                sum -= logProbabilities[id];
                count++;
            }
        }
        return count == 0 ? double.NaN : sum / count;
    }
}
