namespace MLNet.MoE;

/// <summary>How a <see cref="ChatSegment"/> of a rendered prompt becomes token ids.</summary>
internal enum ChatSegmentKind
{
    /// <summary>A message's text: encoded as plain text, so special-token text typed by a user stays text.</summary>
    Text,

    /// <summary>A control token of the format (such as "&lt;｜User｜&gt;"): exactly one id of the tokenizer.</summary>
    Marker,

    /// <summary>The tokenizer's end-of-text id (the document separator a plain-text model was trained with); it has no text.</summary>
    EndOfText,

    /// <summary>A prompt written whole by a custom template: encoded with its special-token text parsed into ids.</summary>
    Formatted,
}
