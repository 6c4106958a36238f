using Microsoft.Extensions.AI;

namespace MLNet.MoE;

/// <summary>A format written by the app: a function gives the whole prompt text, whose special-token text becomes special ids.</summary>
internal sealed class CustomChatFormat : ChatFormat
{
    private readonly Func<IReadOnlyList<ChatMessage>, string> render;

    public CustomChatFormat(string name, Func<IReadOnlyList<ChatMessage>, string> render, IReadOnlyList<string> endTokens)
    {
        Name = name;
        this.render = render;
        EndMarkers = endTokens;
    }

    /// <inheritdoc />
    public override string Name { get; }

    /// <inheritdoc />
    public override IReadOnlyList<string> Markers => EndMarkers;

    /// <inheritdoc />
    public override IReadOnlyList<string> EndMarkers { get; }

    /// <inheritdoc />
    public override IReadOnlyList<ChatSegment> Render(IReadOnlyList<ChatTurn> turns)
    {
        string? text = render(turns.Select(t => new ChatMessage(t.Role, t.Text)).ToList());
        if (text is null) throw new InvalidOperationException($"The custom chat template '{Name}' returned null instead of a prompt.");
        return new[] { new ChatSegment(ChatSegmentKind.Formatted, text) };
    }
}
