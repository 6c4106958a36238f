namespace MLNet.MoE;

/// <summary>
/// The format of a model trained on plain text (such as the byte-level models of the quick start): the tokenizer's
/// end-of-text id, as every training document starts, then the messages' texts joined by newlines, with no role
/// markers; the answer is the model's continuation of that text.
/// </summary>
internal sealed class PlainTextChatFormat : ChatFormat
{
    /// <summary>The one instance.</summary>
    public static PlainTextChatFormat Instance { get; } = new();

    private PlainTextChatFormat()
    {
    }

    /// <inheritdoc />
    public override string Name => "plain text";

    /// <inheritdoc />
    public override IReadOnlyList<string> Markers => Array.Empty<string>();

    /// <inheritdoc />
    public override IReadOnlyList<string> EndMarkers => Array.Empty<string>();

    /// <inheritdoc />
    public override IReadOnlyList<ChatSegment> Render(IReadOnlyList<ChatTurn> turns) =>
        new[] { ChatSegment.EndOfText, ChatSegment.Plain(string.Join("\n", turns.Select(t => t.Text))) };
}
