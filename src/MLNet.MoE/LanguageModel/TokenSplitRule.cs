namespace MLNet.MoE;

/// <summary>
/// Which documents are held out for validation: document <c>i</c> (counting the non-empty rows from 0) is a validation
/// document when a SplitMix64 hash of (seed, i), as a fraction in [0, 1), is below the validation fraction. The choice
/// depends on the document's position only, so a corpus written chunk by chunk (<see cref="TokenStoreWriter"/>) and one
/// packed in memory (<see cref="TokenCorpus"/>) hold out the same documents without knowing the document count first.
/// When no document was chosen but the fraction is positive and there are two or more documents, the last one is held
/// out, so a small corpus still has a validation stream.
/// </summary>
internal static class TokenSplitRule
{
    /// <summary>Whether document <paramref name="document"/> is held out.</summary>
    public static bool IsValidation(long document, double validationFraction, int seed)
    {
        if (validationFraction <= 0) return false;
        unchecked
        {
            ulong z = ((ulong)(uint)seed << 32 ^ (ulong)document) * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53)) < validationFraction;
        }
    }

    /// <summary>Whether, after <paramref name="documents"/> documents of which none was held out, the last one must be.</summary>
    public static bool HoldOutLast(long documents, long validationDocuments, double validationFraction) =>
        validationFraction > 0 && validationDocuments == 0 && documents >= 2;
}
