using System.Text;

namespace MLNet.MoE;

/// <summary>
/// A Hugging Face tokenizer.json "decoder": the token texts of the ids pass through its steps in order (each step maps
/// the list of texts to a new list), and the result is joined. The steps are ports of Hugging Face tokenizers' decoders
/// Replace, ByteFallback, Fuse, Strip, Metaspace and ByteLevel (<c>decode_chain</c>), quirks included: Metaspace drops
/// every replacement character of the first token, ByteFallback writes one U+FFFD per byte of a run that is not UTF-8.
/// Without a decoder the token texts are joined with spaces, as Hugging Face does. Written by hand: Microsoft.ML.Tokenizers
/// decodes only inside its own tokenizers and has no decoder pipeline for tokenizer.json.
/// </summary>
internal sealed class TokenDecoder
{
    private static readonly Dictionary<char, byte> ByteOfSymbol = Enumerable.Range(0, 256).ToDictionary(b => ByteLevelAlphabet.ByteToChar[b], b => (byte)b);

    private readonly IReadOnlyList<Func<List<string>, List<string>>>? _steps;

    /// <summary>A decoder applying <paramref name="steps"/> in order; null for a file without a decoder.</summary>
    public TokenDecoder(IReadOnlyList<Func<List<string>, List<string>>>? steps) => _steps = steps;

    /// <summary>The text of <paramref name="tokens"/>.</summary>
    public string Decode(List<string> tokens)
    {
        if (_steps is null) return string.Join(' ', tokens);
        foreach (Func<List<string>, List<string>> step in _steps) tokens = step(tokens);
        return string.Concat(tokens);
    }

    /// <summary>Replace with a String pattern: each occurrence in each token becomes <paramref name="content"/>.</summary>
    public static Func<List<string>, List<string>> Replace(string pattern, string content) =>
        tokens => tokens.Select(t => t.Replace(pattern, content, StringComparison.Ordinal)).ToList();

    /// <summary>Replace with a Regex pattern, reusing the normalizer step's matching (<see cref="TextNormalizer.ReplaceRegex"/>).</summary>
    public static Func<List<string>, List<string>> Replace(Func<string, string> replace) =>
        tokens => tokens.Select(replace).ToList();

    /// <summary>Fuse: all tokens become one.</summary>
    public static Func<List<string>, List<string>> Fuse { get; } = tokens => [string.Concat(tokens)];

    /// <summary>ByteFallback: runs of "&lt;0xNN&gt;" tokens become the text their bytes spell, or one U+FFFD per byte when they are not UTF-8.</summary>
    public static Func<List<string>, List<string>> ByteFallback { get; } = tokens =>
    {
        var result = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        foreach (string token in tokens)
        {
            if (TryParseByteToken(token, out byte value))
            {
                bytes.Add(value);
                continue;
            }
            Flush();
            result.Add(token);
        }
        Flush();
        return result;

        void Flush()
        {
            if (bytes.Count == 0) return;
            try
            {
                result.Add(Strict.GetString(bytes.ToArray()));
            }
            catch (DecoderFallbackException)
            {
                for (int i = 0; i < bytes.Count; i++) result.Add("\uFFFD");
            }
            bytes.Clear();
        }
    };

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The reference's test: six UTF-8 bytes, "&lt;0x" ... "&gt;", the two between read as a hexadecimal byte by Rust's
    /// <c>u8::from_str_radix</c> (either case, or a '+' and one digit).
    /// </summary>
    internal static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        if (token.Length != 6 || !token.StartsWith("<0x", StringComparison.Ordinal) || token[5] != '>') return false;
        char high = token[3], low = token[4];
        if (high == '+')
        {
            if (!IsHex(low)) return false;
            value = (byte)HexValue(low);
            return true;
        }
        if (!IsHex(high) || !IsHex(low)) return false;
        value = (byte)(HexValue(high) * 16 + HexValue(low));
        return true;
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    /// <summary>Strip: up to <paramref name="start"/> leading and <paramref name="stop"/> trailing characters equal to <paramref name="content"/> removed from each token.</summary>
    public static Func<List<string>, List<string>> Strip(Rune content, int start, int stop) => tokens => tokens.Select(token =>
    {
        Rune[] runes = token.EnumerateRunes().ToArray();
        int startCut = 0;
        for (int i = 0; i < Math.Min(start, runes.Length); i++)
        {
            if (runes[i] != content) break;
            startCut = i + 1;
        }
        int stopCut = runes.Length;
        for (int i = 0; i < Math.Min(stop, runes.Length); i++)
        {
            int index = runes.Length - i - 1;
            if (runes[index] != content) break;
            stopCut = index;
        }
        if (stopCut < startCut) stopCut = startCut;
        var text = new StringBuilder(token.Length);
        for (int i = startCut; i < stopCut; i++) text.Append(runes[i].ToString());
        return text.ToString();
    }).ToList();

    /// <summary>Metaspace: <paramref name="replacement"/> becomes a space, except in the first token when a prefix was prepended while encoding, where it is dropped.</summary>
    public static Func<List<string>, List<string>> Metaspace(Rune replacement, bool prepends) => tokens => tokens.Select((token, i) =>
    {
        var text = new StringBuilder(token.Length);
        foreach (Rune rune in token.EnumerateRunes())
        {
            if (rune != replacement) text.Append(rune.ToString());
            else if (i != 0 || !prepends) text.Append(' ');
        }
        return text.ToString();
    }).ToList();

    /// <summary>ByteLevel: each token made only of byte-level symbols becomes its bytes, any other token its UTF-8 bytes; all of it read as UTF-8 (U+FFFD where invalid).</summary>
    public static Func<List<string>, List<string>> ByteLevel { get; } = tokens =>
    {
        var bytes = new List<byte>();
        foreach (string token in tokens)
        {
            var symbols = new List<byte>(token.Length);
            bool allSymbols = true;
            foreach (char c in token)
            {
                if (!ByteOfSymbol.TryGetValue(c, out byte b))
                {
                    allSymbols = false;
                    break;
                }
                symbols.Add(b);
            }
            bytes.AddRange(allSymbols ? symbols : Encoding.UTF8.GetBytes(token));
        }
        return [Encoding.UTF8.GetString(bytes.ToArray())];
    };
}
