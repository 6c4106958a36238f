using Microsoft.Extensions.AI;

namespace MLNet.MoE;

/// <summary>One message of a conversation as a template sees it: its role (system, user or assistant) and its text.</summary>
/// <param name="Role">The role.</param>
/// <param name="Text">The text of the message's text contents, concatenated.</param>
internal sealed record ChatTurn(ChatRole Role, string Text);
