using System.Text;
using Microsoft.Extensions.AI;

namespace MLNet.MoE;

/// <summary>Reads Microsoft.Extensions.AI messages into the turns a chat template renders, refusing what a language model of text cannot take.</summary>
internal static class ChatConversation
{
    /// <summary>
    /// The turns of <paramref name="messages"/>, after a system turn holding <paramref name="instructions"/> when there
    /// are any (ChatOptions.Instructions). Each message must have the system, user or assistant role and hold text only
    /// (<see cref="TextContent"/>; a <see cref="UsageContent"/> that a previous response left is skipped).
    /// </summary>
    /// <exception cref="ArgumentException">No messages, or a null message.</exception>
    /// <exception cref="NotSupportedException">Another role (tool), or content other than text (images, function calls, ...).</exception>
    public static IReadOnlyList<ChatTurn> Read(IEnumerable<ChatMessage> messages, string? instructions)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<ChatTurn>();
        if (instructions is not null) turns.Add(new ChatTurn(ChatRole.System, instructions));
        int index = 0;
        foreach (ChatMessage? message in messages)
        {
            if (message is null) throw new ArgumentException($"Message {index} of the conversation is null.", nameof(messages));
            ChatRole role = message.Role;
            if (role != ChatRole.System && role != ChatRole.User && role != ChatRole.Assistant)
            {
                throw new NotSupportedException(
                    $"Message {index} has the role '{MessageText.Printable(role.Value)}'; the MLNet.MoE chat client takes system, user and assistant messages only (no tool results or function calls).");
            }
            var text = new StringBuilder();
            foreach (AIContent content in message.Contents)
            {
                switch (content)
                {
                    case TextContent textContent:
                        text.Append(textContent.Text);
                        break;
                    case UsageContent:
                        // The token counts of an earlier response, kept with it in the history: not part of the conversation.
                        break;
                    default:
                        throw new NotSupportedException(
                            $"Message {index} ({role.Value}) holds a {content.GetType().Name}; the MLNet.MoE chat client takes text only (TextContent).");
                }
            }
            turns.Add(new ChatTurn(role, text.ToString()));
            index++;
        }
        if (index == 0) throw new ArgumentException("The conversation holds no messages: pass at least one ChatMessage.", nameof(messages));
        return turns;
    }
}
