namespace MLNet.MoE;

/// <summary>
/// Documents (rows) of token ids packed into one training stream and one validation stream in memory: every document
/// is preceded by the end-of-text token, so documents are separated and the first token of each is predicted too. The
/// validation documents are chosen by <see cref="TokenSplitRule"/>, as a token store on disk chooses them, so both
/// paths train on the same streams for the same seed and fraction.
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

    /// <summary>Packs <paramref name="documents"/>, holding out those <see cref="TokenSplitRule"/> chooses for <paramref name="validationFraction"/> and <paramref name="seed"/>.</summary>
    /// <exception cref="InvalidOperationException">A stream would exceed the largest array .NET allocates; a token store on disk (<c>mlContext.MoE().ExportTokens</c>) holds it.</exception>
    public static TokenCorpus Pack(IReadOnlyList<int[]> documents, int endOfTextId, double validationFraction, int seed)
    {
        int count = documents.Count;
        var isValidation = new bool[count];
        int validationCount = 0;
        for (int i = 0; i < count; i++)
        {
            isValidation[i] = TokenSplitRule.IsValidation(i, validationFraction, seed);
            if (isValidation[i]) validationCount++;
        }
        if (TokenSplitRule.HoldOutLast(count, validationCount, validationFraction))
        {
            isValidation[count - 1] = true;
            validationCount = 1;
        }
        long trainingLength = 0, validationLength = 0;
        for (int i = 0; i < count; i++)
        {
            if (isValidation[i]) validationLength += documents[i].Length + 1;
            else trainingLength += documents[i].Length + 1;
        }
        if (Math.Max(trainingLength, validationLength) > Array.MaxLength)
            throw new InvalidOperationException($"The documents pack into {trainingLength:N0} training tokens, more than one array holds ({Array.MaxLength:N0}): write them to a token store with mlContext.MoE().ExportTokens and train from mlContext.MoE().LoadTokens.");
        var training = new int[trainingLength];
        var validation = new int[validationLength];
        int t = 0, v = 0;
        for (int i = 0; i < count; i++)
        {
            var target = isValidation[i] ? validation : training;
            ref int at = ref isValidation[i] ? ref v : ref t;
            target[at++] = endOfTextId;
            documents[i].CopyTo(target, at);
            at += documents[i].Length;
        }
        return new TokenCorpus(training, validation, count - validationCount, validationCount);
    }
}
