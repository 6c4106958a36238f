using Microsoft.Extensions.AI;

namespace MLNet.MoE;

/// <summary>A language model as a Microsoft.Extensions.AI chat client, for Microsoft.Extensions.AI and Semantic Kernel apps.</summary>
public static class LanguageModelChatExtensions
{
    /// <summary>
    /// The language model (<c>LanguageModelTransformer</c> or <c>OnnxLanguageModelTransformer</c>) as an
    /// <see cref="IChatClient"/>: a conversation is rendered with <paramref name="template"/> and answered by sampling
    /// from the model, streamed token by token through its key/value-cached decoding. <see cref="ChatOptions"/>'s
    /// MaxOutputTokens, Temperature, TopP, TopK, Seed and StopSequences apply (unset ones come from the transformer's
    /// <see cref="LanguageModelTransformerBase.Generation"/>; the stop text is never returned, also when it spans
    /// several tokens), and Instructions is a system message before the others. The answer ends at the template's end
    /// token or the tokenizer's end-of-text (finish reason Stop), at a stop sequence (Stop), or after MaxOutputTokens or
    /// where the context ends (Length); its usage counts the prompt's tokens and every token sampled (the end token
    /// included). Messages must be system, user or assistant text; tools, JSON output, penalties and conversation ids are
    /// refused with a <see cref="NotSupportedException"/>. Requests to one client run one at a time; disposing the
    /// client leaves the transformer open.
    /// </summary>
    /// <param name="transformer">The language model.</param>
    /// <param name="template">The model's chat format: <see cref="ChatTemplate.DeepSeekV3"/>, <see cref="ChatTemplate.PlainText"/>, one read from a checkpoint or a custom one.</param>
    /// <param name="modelId">The model id reported in responses and metadata; default "mlnet-moe".</param>
    /// <exception cref="ArgumentException">The template needs control tokens the transformer's tokenizer does not have as single ids.</exception>
    public static IChatClient AsIChatClient(this LanguageModelTransformerBase transformer, ChatTemplate template, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(transformer);
        ArgumentNullException.ThrowIfNull(template);
        return new LanguageModelChatClient(transformer, template, modelId ?? "mlnet-moe");
    }
}
