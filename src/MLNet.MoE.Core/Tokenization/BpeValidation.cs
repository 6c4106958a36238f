namespace MLNet.MoE;

/// <summary>
/// Checks a BPE vocabulary and merge list before Microsoft.ML.Tokenizers sees them, so that a bad
/// file gives an <see cref="InvalidDataException"/> naming the file and the field or line, and so that no byte
/// of input can be dropped silently (BpeTokenizer skips characters missing from the vocabulary).
/// </summary>
internal static class BpeValidation
{
    /// <summary>One merge and where it came from (e.g. "line 7" or "model.merges[5]").</summary>
    public readonly record struct Merge(string Left, string Right, string Location);

    /// <summary>Throws <see cref="InvalidDataException"/> for the first problem found.</summary>
    /// <param name="vocabulary">Token text to id.</param>
    /// <param name="merges">The merges in rank order.</param>
    /// <param name="continuingSubwordPrefix">Prefix stripped from the right part when merging, if any.</param>
    /// <param name="vocabularySource">Names the vocabulary (file and field) in messages.</param>
    /// <param name="mergesSource">Names the merges (file and field) in messages.</param>
    public static void Validate(
        IReadOnlyDictionary<string, int> vocabulary,
        IReadOnlyList<Merge> merges,
        string? continuingSubwordPrefix,
        string vocabularySource,
        string mergesSource)
    {
        if (vocabulary.Count == 0)
        {
            throw new InvalidDataException($"{vocabularySource} is empty.");
        }

        for (int b = 0; b < 256; b++)
        {
            char symbol = ByteLevelAlphabet.ByteToChar[b];
            if (!vocabulary.ContainsKey(symbol.ToString()))
            {
                throw new InvalidDataException(
                    $"{vocabularySource} lacks the byte-level symbol '{symbol}' (U+{(int)symbol:X4}) for byte 0x{b:X2}: a byte-level BPE vocabulary must hold all 256 byte symbols, or text containing that byte could not be encoded.");
            }
        }

        ValidateMerges(vocabulary, merges, continuingSubwordPrefix, vocabularySource, mergesSource);
    }

    /// <summary>Throws <see cref="InvalidDataException"/> for the first merge whose parts or result are not in the vocabulary.</summary>
    public static void ValidateMerges(
        IReadOnlyDictionary<string, int> vocabulary,
        IReadOnlyList<Merge> merges,
        string? continuingSubwordPrefix,
        string vocabularySource,
        string mergesSource)
    {
        if (vocabulary.Count == 0)
        {
            throw new InvalidDataException($"{vocabularySource} is empty.");
        }
        int prefixLength = continuingSubwordPrefix?.Length ?? 0;
        foreach (Merge merge in merges)
        {
            foreach (string part in new[] { merge.Left, merge.Right })
            {
                if (!vocabulary.ContainsKey(part))
                {
                    throw new InvalidDataException($"{mergesSource}, {merge.Location}: the merge \"{merge.Left} {merge.Right}\" uses '{part}', which is not in {vocabularySource}.");
                }
            }
            if (merge.Right.Length <= prefixLength)
            {
                throw new InvalidDataException($"{mergesSource}, {merge.Location}: the merge \"{merge.Left} {merge.Right}\" has a right part no longer than the continuing-subword prefix.");
            }
            string merged = merge.Left + merge.Right.Substring(prefixLength);
            if (!vocabulary.ContainsKey(merged))
            {
                throw new InvalidDataException($"{mergesSource}, {merge.Location}: the merge \"{merge.Left} {merge.Right}\" makes '{merged}', which is not in {vocabularySource}.");
            }
        }
    }
}
