namespace MLNet.MoE;

/// <summary>
/// A chat template bound to a tokenizer: the ids of its control tokens, looked up once (so a tokenizer without them is
/// refused when the chat client is made, not at the first request), and the ids that end an answer.
/// </summary>
internal sealed class ChatPromptEncoder
{
    private readonly ChatTemplate template;
    private readonly MoeTokenizer tokenizer;
    private readonly Dictionary<string, int> markerIds = new(StringComparer.Ordinal);

    /// <exception cref="ArgumentException">A control token of the template is not one id of <paramref name="tokenizer"/>.</exception>
    public ChatPromptEncoder(ChatTemplate template, MoeTokenizer tokenizer)
    {
        this.template = template;
        this.tokenizer = tokenizer;
        foreach (string marker in template.Format.Markers) markerIds[marker] = MarkerId(marker);
        var ends = new HashSet<int> { tokenizer.EndOfTextId };
        foreach (string marker in template.Format.EndMarkers) ends.Add(markerIds[marker]);
        EndIds = ends;
    }

    /// <summary>The ids that end the assistant's answer: the template's end tokens and the tokenizer's end-of-text.</summary>
    public IReadOnlySet<int> EndIds { get; }

    /// <summary>The prompt ids of <paramref name="turns"/>.</summary>
    public int[] Encode(IReadOnlyList<ChatTurn> turns)
    {
        var ids = new List<int>();
        foreach (ChatSegment segment in template.Format.Render(turns))
        {
            switch (segment.Kind)
            {
                case ChatSegmentKind.Text:
                    ids.AddRange(tokenizer.Encode(segment.Text));
                    break;
                case ChatSegmentKind.Marker:
                    ids.Add(markerIds[segment.Text]);
                    break;
                case ChatSegmentKind.EndOfText:
                    ids.Add(tokenizer.EndOfTextId);
                    break;
                case ChatSegmentKind.Formatted:
                    ids.AddRange(tokenizer.Encode(segment.Text, parseSpecialTokens: true));
                    break;
                default:
                    throw new InvalidOperationException($"Unknown chat segment kind {segment.Kind}.");
            }
        }
        return ids.ToArray();
    }

    private int MarkerId(string marker)
    {
        if (marker == tokenizer.EndOfTextToken) return tokenizer.EndOfTextId;
        int[] ids = tokenizer.Encode(marker, parseSpecialTokens: true);
        if (ids.Length != 1)
        {
            throw new ArgumentException(
                $"The {template.Name} chat template needs \"{marker}\" as one token, but tokenizer '{tokenizer.Name}' encodes it as {ids.Length} ids. " +
                "Use the checkpoint's own tokenizer (MoeTokenizer.FromHuggingFaceJson on its tokenizer.json), or ChatTemplate.PlainText for a model trained on plain text.",
                nameof(template));
        }
        return ids[0];
    }
}
