namespace MLNet.MoE;

/// <summary>
/// The text of an answer as its tokens come, cut at the first stop sequence. Each new token's text is handed out as soon
/// as it is certain: text that could still be the start of a stop sequence (which may span several tokens) is held back
/// until a later token rules that out, and so are trailing U+FFFD characters, the decoding of a UTF-8 character whose
/// bytes have not all come yet. So no part of a stop sequence is ever handed out, and the pieces put together are the
/// answer's text. Assumes that decoding more tokens only appends text (true of byte-level BPE once characters are whole).
/// </summary>
internal sealed class ChatTextStream
{
    private readonly MoeTokenizer tokenizer;
    private readonly IReadOnlyList<string> stopSequences;
    private readonly List<int> ids = new();
    private string text = string.Empty;
    private int handedOut;

    public ChatTextStream(MoeTokenizer tokenizer, IReadOnlyList<string> stopSequences)
    {
        this.tokenizer = tokenizer;
        this.stopSequences = stopSequences;
    }

    /// <summary>Whether a stop sequence was reached: the answer ends before it.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds the next token; returns the text that is now certain (possibly empty).</summary>
    public string Add(int id)
    {
        if (Stopped) throw new InvalidOperationException("The answer already ended at a stop sequence.");
        ids.Add(id);
        // The whole answer is decoded again at each token (as TextGeneration.Generate does): tokens may split a character.
        text = tokenizer.Decode(ids);
        int stopAt = -1;
        foreach (string stop in stopSequences)
        {
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (stopAt < 0 || at < stopAt)) stopAt = at;
        }
        if (stopAt >= 0)
        {
            Stopped = true;
            return HandOut(stopAt);
        }
        int certain = text.Length - HeldBack();
        if (certain > 0 && char.IsHighSurrogate(text[certain - 1])) certain--;
        return HandOut(certain);
    }

    /// <summary>The text still held back, once no token follows (empty after a stop sequence).</summary>
    public string Finish() => Stopped ? string.Empty : HandOut(text.Length);

    private string HandOut(int end)
    {
        if (end <= handedOut) return string.Empty;
        string piece = text[handedOut..end];
        handedOut = end;
        return piece;
    }

    /// <summary>How many characters at the end of the text must wait: a possible start of a stop sequence, or an incomplete character.</summary>
    private int HeldBack()
    {
        int held = 0;
        foreach (string stop in stopSequences)
        {
            for (int length = Math.Min(stop.Length - 1, text.Length); length > held; length--)
            {
                if (text.AsSpan(text.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    held = length;
                    break;
                }
            }
        }
        int replacement = 0;
        while (replacement < text.Length && text[text.Length - 1 - replacement] == '\uFFFD') replacement++;
        return Math.Max(held, replacement);
    }
}
