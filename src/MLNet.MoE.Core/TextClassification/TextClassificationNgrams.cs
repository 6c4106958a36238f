namespace MLNet.MoE;

/// <summary>
/// The hashed n-grams a text classifier's wide branch reads for a row: the lower-cased words (runs of letters and digits)
/// as unigrams and bigrams, and the character trigrams of the lower-cased text with its whitespace runs collapsed, each
/// hashed (FNV-1a, 32 bits, one seed per kind and text, so the second text of a pair has n-grams of its own) into one of
/// the classifier's buckets. What ML.NET's <c>FeaturizeText</c> extracts by default (word unigrams, character trigrams),
/// plus word bigrams, hashed as fastText hashes them; written here because Microsoft.ML's own hashing n-gram transforms
/// work on <c>IDataView</c> columns, not on one string at scoring time, and the ONNX backend must read the same ids
/// without ML.NET's transforms. Texts longer than <see cref="MaxCharacters"/> characters keep their first ones.
/// </summary>
internal static class TextClassificationNgrams
{
    /// <summary>Characters of a text read at most: bounds a row's n-grams (about three per character).</summary>
    public const int MaxCharacters = 20_000;

    /// <summary>
    /// Identifies what <see cref="Hash"/> computes (the n-grams, the normalisation, the seeds, the hash and
    /// <see cref="MaxCharacters"/>). An ONNX export of a classifier with a wide branch records it, and the ONNX scorer
    /// refuses an export of another version: change it whenever any text would hash to other buckets.
    /// </summary>
    public const string HashVersion = "1";

    private const uint WordSeed = 0x9E3779B1, BigramSeed = 0x85EBCA77, TrigramSeed = 0xC2B2AE3D, SecondTextSeed = 0x27D4EB2F;

    /// <summary>
    /// The bucket ids (0 to <paramref name="buckets"/> − 1) of the row's n-grams, one per occurrence (a repeated n-gram
    /// repeats its id); empty when <paramref name="buckets"/> is 0.
    /// </summary>
    public static int[] Hash(string text, string? second, int buckets)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (buckets < 0) throw new ArgumentOutOfRangeException(nameof(buckets), buckets, "The number of n-gram buckets must not be negative.");
        if (buckets == 0) return Array.Empty<int>();
        var ids = new List<int>(Math.Min(text.Length, MaxCharacters) * 3 + 8);
        Add(ids, text, 0, buckets);
        if (second != null) Add(ids, second, SecondTextSeed, buckets);
        return ids.ToArray();
    }

    /// <summary>
    /// The weight of each of a row's <paramref name="occurrences"/> n-gram occurrences in the wide branch's sum:
    /// 1/√<paramref name="occurrences"/> (so the row's vector of counts has unit L2 norm before the per-bucket weights), 0 for none.
    /// </summary>
    public static float Weight(int occurrences) => occurrences > 0 ? (float)(1 / Math.Sqrt(occurrences)) : 0f;

    private static void Add(List<int> ids, string text, uint textSeed, int buckets)
    {
        ReadOnlySpan<char> span = text.AsSpan(0, Math.Min(text.Length, MaxCharacters));
        // The lower-cased text with whitespace runs as one space, framed by spaces (so a text's first and last characters begin and end trigrams, as words do).
        var normalized = new char[span.Length + 2];
        int length = 0;
        normalized[length++] = ' ';
        foreach (char c in span)
        {
            char lower = char.ToLowerInvariant(c);
            if (char.IsWhiteSpace(lower))
            {
                if (normalized[length - 1] != ' ') normalized[length++] = ' ';
            }
            else
            {
                normalized[length++] = lower;
            }
        }
        if (normalized[length - 1] != ' ') normalized[length++] = ' ';
        var chars = normalized.AsSpan(0, length);
        for (int i = 0; i + 3 <= chars.Length; i++) ids.Add(Bucket(Fnv(TrigramSeed ^ textSeed, chars.Slice(i, 3)), buckets));
        uint previous = 0;
        bool hasPrevious = false;
        int start = -1;
        for (int i = 0; i <= chars.Length; i++)
        {
            bool inWord = i < chars.Length && char.IsLetterOrDigit(chars[i]);
            if (inWord && start < 0) start = i;
            if (inWord || start < 0) continue;
            uint word = Fnv(WordSeed ^ textSeed, chars[start..i]);
            ids.Add(Bucket(word, buckets));
            if (hasPrevious) ids.Add(Bucket(Mix(BigramSeed ^ textSeed, previous, word), buckets));
            previous = word;
            hasPrevious = true;
            start = -1;
        }
    }

    private static uint Fnv(uint seed, ReadOnlySpan<char> chars)
    {
        uint hash = 2166136261u ^ seed;
        foreach (char c in chars)
        {
            hash = (hash ^ (byte)c) * 16777619u;
            hash = (hash ^ (byte)(c >> 8)) * 16777619u;
        }
        return hash;
    }

    private static uint Mix(uint seed, uint first, uint second)
    {
        uint hash = 2166136261u ^ seed;
        for (int shift = 0; shift < 32; shift += 8) hash = (hash ^ (byte)(first >> shift)) * 16777619u;
        for (int shift = 0; shift < 32; shift += 8) hash = (hash ^ (byte)(second >> shift)) * 16777619u;
        return hash;
    }

    private static int Bucket(uint hash, int buckets) => (int)(hash % (uint)buckets);
}
