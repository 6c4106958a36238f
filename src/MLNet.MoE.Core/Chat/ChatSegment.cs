namespace MLNet.MoE;

/// <summary>One piece of a rendered chat prompt: its text and how that text becomes ids.</summary>
/// <param name="Kind">How the text is encoded.</param>
/// <param name="Text">The text (empty for <see cref="ChatSegmentKind.EndOfText"/>).</param>
internal readonly record struct ChatSegment(ChatSegmentKind Kind, string Text)
{
    /// <summary>A message's text.</summary>
    public static ChatSegment Plain(string text) => new(ChatSegmentKind.Text, text);

    /// <summary>A control token of the format.</summary>
    public static ChatSegment Marker(string token) => new(ChatSegmentKind.Marker, token);

    /// <summary>The tokenizer's end-of-text id.</summary>
    public static ChatSegment EndOfText { get; } = new(ChatSegmentKind.EndOfText, string.Empty);
}
