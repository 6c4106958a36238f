namespace MLNet.MoE;

/// <summary>
/// A chat format written in C#: what a Hugging Face checkpoint's Jinja <c>chat_template</c> renders, for the formats
/// MLNet.MoE knows. No maintained Jinja engine for .NET is available to this library (Fluid and Scriban implement
/// Liquid and Scriban, whose syntax and semantics differ from Jinja's), so each known template is rendered by hand and
/// checked against Hugging Face's own renderer (@huggingface/jinja) in the tests.
/// </summary>
internal abstract class ChatFormat
{
    /// <summary>The format's name, for messages.</summary>
    public abstract string Name { get; }

    /// <summary>Every control token the format writes: each must be one id of the tokenizer.</summary>
    public abstract IReadOnlyList<string> Markers { get; }

    /// <summary>Control tokens that end the assistant's answer (the tokenizer's end-of-text always does).</summary>
    public abstract IReadOnlyList<string> EndMarkers { get; }

    /// <summary>The prompt for <paramref name="turns"/>, ending where the assistant's answer starts.</summary>
    public abstract IReadOnlyList<ChatSegment> Render(IReadOnlyList<ChatTurn> turns);
}
