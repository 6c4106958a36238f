namespace MLNet.MoE;

/// <summary>
/// Documents (rows) of token ids packed into one training stream and one validation stream: every document is
/// preceded by the end-of-text token, so documents are separated and the first token of each is predicted too.
/// The validation documents are a seeded random choice of whole rows.
/// </summary>
internal sealed class TokenCorpus
{
    private TokenCorpus(int[] training, int[] validation, int trainingDocuments, int validationDocuments)
    {
        Training = training;
        Validation = validation;
        TrainingDocuments = trainingDocuments;
        ValidationDocuments = validationDocuments;
    }

    /// <summary>The packed training stream.</summary>
    public int[] Training { get; }

    /// <summary>The packed validation stream (empty when no document was held out).</summary>
    public int[] Validation { get; }

    /// <summary>Documents in the training stream.</summary>
    public int TrainingDocuments { get; }

    /// <summary>Documents in the validation stream.</summary>
    public int ValidationDocuments { get; }

    /// <summary>Packs <paramref name="documents"/>, holding out <paramref name="validationFraction"/> of them (at least one when the fraction is positive and there are two or more).</summary>
    public static TokenCorpus Pack(IReadOnlyList<int[]> documents, int endOfTextId, double validationFraction, int seed)
    {
        int count = documents.Count;
        int validationCount = validationFraction <= 0 || count < 2 ? 0 : Math.Clamp((int)Math.Round(count * validationFraction), 1, count - 1);
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        var isValidation = new bool[count];
        for (int i = 0; i < validationCount; i++) isValidation[order[i]] = true;
        var training = new List<int>();
        var validation = new List<int>();
        for (int i = 0; i < count; i++)
        {
            var target = isValidation[i] ? validation : training;
            target.Add(endOfTextId);
            target.AddRange(documents[i]);
        }
        return new TokenCorpus(training.ToArray(), validation.ToArray(), count - validationCount, validationCount);
    }
}
