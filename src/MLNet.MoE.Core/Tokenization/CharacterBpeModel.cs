using System.Collections.Concurrent;
using System.Text;

namespace MLNet.MoE;

/// <summary>
/// The Hugging Face BPE model over characters, as Llama-2, Mistral and Gemma tokenizer.json files use it: each character
/// of a word is a symbol when model.vocab has it; otherwise, with byte_fallback, its UTF-8 bytes as the tokens
/// <c>&lt;0xNN&gt;</c>; otherwise unk_token (consecutive ones fused into one with fuse_unk); otherwise it is dropped,
/// exactly as Hugging Face tokenizers' <c>BPE::merge_word</c> does. The symbols are then merged pair by pair, the pair
/// of lowest merge rank first and, among equal ranks, the leftmost (<c>Word::merge_all</c>). With ignore_merges a word
/// that is itself in model.vocab is one token.
/// </summary>
/// <remarks>
/// Written by hand: Microsoft.ML.Tokenizers' <c>BpeTokenizer</c> has no byte fallback and no ignore_merges (a missing
/// character can only become its unknown token), and its merge machinery (<c>Word</c>) is internal; its
/// <c>SentencePieceTokenizer</c> needs a SentencePiece protobuf model and merges by piece score, which differs from a
/// merge list when two pairs spell the same piece.
/// </remarks>
internal sealed class CharacterBpeModel
{
    private const int MaxCachedWordLength = 256;
    private const int MaxCacheEntries = 10_000;

    private readonly Dictionary<string, int> _vocabulary;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Merged)> _merges;
    private readonly string? _prefix;
    private readonly string? _suffix;
    private readonly int? _unknownId;
    private readonly bool _fuseUnknown;
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly int[] _byteTokenIds;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    /// <summary>The model; <paramref name="merges"/> are (left, right) in rank order and already validated against the vocabulary.</summary>
    public CharacterBpeModel(
        Dictionary<string, int> vocabulary,
        IReadOnlyList<(string Left, string Right)> merges,
        string? continuingSubwordPrefix,
        string? endOfWordSuffix,
        int? unknownId,
        bool fuseUnknown,
        bool byteFallback,
        bool ignoreMerges)
    {
        _vocabulary = vocabulary;
        _prefix = continuingSubwordPrefix;
        _suffix = endOfWordSuffix;
        _unknownId = unknownId;
        _fuseUnknown = fuseUnknown;
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        int prefixLength = continuingSubwordPrefix?.Length ?? 0;
        _merges = new Dictionary<(int, int), (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            (string left, string right) = merges[rank];
            // A pair listed twice keeps its last rank, as the reference's map built from the list does.
            _merges[(vocabulary[left], vocabulary[right])] = (rank, vocabulary[left + right[prefixLength..]]);
        }
        _byteTokenIds = new int[256];
        for (int b = 0; b < 256; b++)
        {
            _byteTokenIds[b] = vocabulary.TryGetValue(ByteToken(b), out int id) ? id : -1;
        }
    }

    /// <summary>The vocabulary entry standing for byte <paramref name="value"/> with byte_fallback: "&lt;0x41&gt;".</summary>
    public static string ByteToken(int value) => $"<0x{value:X2}>";

    /// <summary>Appends the ids of <paramref name="word"/> (one pre-tokenized piece) to <paramref name="ids"/>.</summary>
    public void Encode(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        if (_ignoreMerges && _vocabulary.TryGetValue(word, out int whole))
        {
            ids.Add(whole);
            return;
        }
        if (_cache.TryGetValue(word, out int[]? cached))
        {
            ids.AddRange(cached);
            return;
        }
        int[] result = Merge(Symbols(word));
        if (word.Length < MaxCachedWordLength && _cache.Count < MaxCacheEntries) _cache.TryAdd(word, result);
        ids.AddRange(result);
    }

    /// <summary>The initial symbols of <paramref name="word"/>, one per character (or per byte, or fused unknowns).</summary>
    private List<int> Symbols(string word)
    {
        var symbols = new List<int>(word.Length);
        bool unknownPending = false;
        int i = 0;
        while (i < word.Length)
        {
            int length = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            string symbol = word.Substring(i, length);
            if (i > 0 && _prefix is not null) symbol = _prefix + symbol;
            if (i + length >= word.Length && _suffix is not null) symbol += _suffix;
            i += length;

            if (_vocabulary.TryGetValue(symbol, out int id))
            {
                if (unknownPending)
                {
                    symbols.Add(_unknownId!.Value);
                    unknownPending = false;
                }
                symbols.Add(id);
                continue;
            }
            if (_byteFallback && TryAddBytes(symbol, symbols))
            {
                // As in the reference, bytes do not end a pending unknown token: it follows them.
                continue;
            }
            if (_unknownId is int unknownId)
            {
                if (unknownPending && !_fuseUnknown) symbols.Add(unknownId);
                unknownPending = true;
            }
        }
        if (unknownPending) symbols.Add(_unknownId!.Value);
        return symbols;
    }

    private bool TryAddBytes(string symbol, List<int> symbols)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(symbol);
        foreach (byte b in bytes)
        {
            if (_byteTokenIds[b] < 0) return false;
        }
        foreach (byte b in bytes) symbols.Add(_byteTokenIds[b]);
        return true;
    }

    /// <summary>Merges adjacent symbols, lowest rank first and leftmost among equal ranks, until no listed pair is left.</summary>
    private int[] Merge(List<int> symbols)
    {
        int count = symbols.Count;
        if (count < 2) return symbols.ToArray();
        int[] ids = symbols.ToArray();
        int[] previous = new int[count];
        int[] next = new int[count];
        bool[] removed = new bool[count];
        for (int k = 0; k < count; k++)
        {
            previous[k] = k - 1;
            next[k] = k + 1 < count ? k + 1 : -1;
        }

        var queue = new PriorityQueue<(int Position, int Merged), (int Rank, int Position)>();
        for (int k = 0; k + 1 < count; k++) Enqueue(k, k + 1);

        while (queue.TryDequeue(out (int Position, int Merged) top, out _))
        {
            int position = top.Position;
            if (removed[position] || next[position] < 0) continue;
            int right = next[position];
            // A stale entry: the pair at this position changed since it was queued.
            if (!_merges.TryGetValue((ids[position], ids[right]), out var merge) || merge.Merged != top.Merged) continue;

            ids[position] = top.Merged;
            removed[right] = true;
            next[position] = next[right];
            if (next[right] >= 0) previous[next[right]] = position;

            if (previous[position] >= 0) Enqueue(previous[position], position);
            if (next[position] >= 0) Enqueue(position, next[position]);
        }

        var result = new List<int>(count);
        for (int k = 0; k < count; k++)
        {
            if (!removed[k]) result.Add(ids[k]);
        }
        return result.ToArray();

        void Enqueue(int left, int rightPosition)
        {
            if (_merges.TryGetValue((ids[left], ids[rightPosition]), out var m)) queue.Enqueue((left, m.Merged), (m.Rank, left));
        }
    }
}
