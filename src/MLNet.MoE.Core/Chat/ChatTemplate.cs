using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace MLNet.MoE;

/// <summary>
/// How a conversation becomes the prompt of a language model: the chat format the model was trained with. Pass one to
/// <see cref="LanguageModelChatExtensions.AsIChatClient"/>. <see cref="DeepSeekV3"/> writes DeepSeek-V3's format (the
/// <c>chat_template</c> of its <c>tokenizer_config.json</c>), <see cref="PlainText"/> suits a model trained on plain
/// text, <see cref="FromTokenizerConfig"/> and <see cref="FromJinja"/> recognise a checkpoint's template, and
/// <see cref="Custom"/> takes any other format as a function.
/// </summary>
/// <remarks>
/// Hugging Face checkpoints carry their chat format as a Jinja template. No maintained Jinja engine for .NET is available
/// to this library (Fluid and Scriban implement Liquid and Scriban, not Jinja), so the known templates are written in C#
/// and checked against Hugging Face's own renderer; an unknown template is refused rather than guessed.
/// </remarks>
public sealed class ChatTemplate
{
    private ChatTemplate(ChatFormat format)
    {
        Format = format;
    }

    /// <summary>
    /// DeepSeek-V3's chat format: <c>&lt;｜begin▁of▁sentence｜&gt;</c>, the system messages' text (joined by a blank
    /// line), then <c>&lt;｜User｜&gt;</c> + each user message and <c>&lt;｜Assistant｜&gt;</c> + each assistant message +
    /// <c>&lt;｜end▁of▁sentence｜&gt;</c>, and <c>&lt;｜Assistant｜&gt;</c> to open the answer, which ends at
    /// <c>&lt;｜end▁of▁sentence｜&gt;</c>. The markers are encoded as the tokenizer's single added-token ids (the
    /// tokenizer must have them: DeepSeek-V3's <c>tokenizer.json</c>, or a fine-tuned checkpoint's copy of it) and the
    /// messages' text as plain text, so special-token text typed in a message stays text.
    /// </summary>
    public static ChatTemplate DeepSeekV3 { get; } = new(DeepSeekV3ChatFormat.Instance);

    /// <summary>
    /// For a model trained on plain text (such as the byte-level model of the quick start): the tokenizer's end-of-text
    /// id, as every training document starts, then the messages' texts joined by newlines, without role markers. The
    /// answer is the model's continuation of that text and ends at end-of-text. A single user message gives the prompt
    /// <c>Generate</c> gives for its text.
    /// </summary>
    public static ChatTemplate PlainText { get; } = new(PlainTextChatFormat.Instance);

    /// <summary>The format's name.</summary>
    public string Name => Format.Name;

    /// <summary>The format.</summary>
    internal ChatFormat Format { get; }

    /// <summary>
    /// A format written by the app: <paramref name="render"/> returns the whole prompt for the messages, ending where the
    /// assistant's answer starts. Its special-token text becomes the tokenizer's special ids (as Hugging Face's
    /// <c>apply_chat_template</c> does), in the messages' text too.
    /// </summary>
    /// <param name="name">A name for messages.</param>
    /// <param name="render">Writes the prompt; the messages have the system, user or assistant role and text only.</param>
    /// <param name="endTokens">Tokens that end the answer besides the tokenizer's end-of-text (each must be one id of the tokenizer), such as "&lt;|im_end|&gt;".</param>
    /// <exception cref="ArgumentException">The name is empty, or an end token is null or empty.</exception>
    public static ChatTemplate Custom(string name, Func<IReadOnlyList<ChatMessage>, string> render, IEnumerable<string>? endTokens = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(render);
        string[] ends = endTokens?.ToArray() ?? Array.Empty<string>();
        if (ends.Any(string.IsNullOrEmpty)) throw new ArgumentException("The custom chat template's end tokens must not be null or empty.", nameof(endTokens));
        return new ChatTemplate(new CustomChatFormat(name, render, ends));
    }

    /// <summary>
    /// The template whose Jinja text (a <c>tokenizer_config.json</c>'s <c>chat_template</c>) is <paramref name="chatTemplate"/>:
    /// <see cref="DeepSeekV3"/> for DeepSeek-V3's template, compared exactly.
    /// </summary>
    /// <exception cref="NotSupportedException">Another template: pass <see cref="Custom"/> with a function that writes its format.</exception>
    public static ChatTemplate FromJinja(string chatTemplate)
    {
        ArgumentNullException.ThrowIfNull(chatTemplate);
        string sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(chatTemplate)));
        if (sha256 == DeepSeekV3ChatFormat.JinjaTemplateSha256) return DeepSeekV3;
        throw new NotSupportedException(
            $"The chat_template (SHA-256 {sha256}, {chatTemplate.Length:N0} characters) is not one MLNet.MoE knows. It renders DeepSeek-V3's template " +
            "(ChatTemplate.DeepSeekV3) and plain text (ChatTemplate.PlainText) written in C#, since no Jinja engine for .NET is available to it; " +
            "for this model's format pass ChatTemplate.Custom with a function that writes its prompt.");
    }

    /// <summary>
    /// The template of a Hugging Face checkpoint's <c>tokenizer_config.json</c> (its <c>chat_template</c>, a string, or
    /// the one named "default" of a list of named templates), as <see cref="FromJinja"/> recognises it.
    /// </summary>
    /// <param name="tokenizerConfigPath">The <c>tokenizer_config.json</c> file.</param>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not JSON, or no <c>chat_template</c> (the checkpoint has no chat format: use <see cref="PlainText"/> or <see cref="Custom"/>).</exception>
    /// <exception cref="NotSupportedException">A template MLNet.MoE does not know.</exception>
    public static ChatTemplate FromTokenizerConfig(string tokenizerConfigPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenizerConfigPath);
        if (!File.Exists(tokenizerConfigPath)) throw new FileNotFoundException($"The tokenizer config '{tokenizerConfigPath}' does not exist.", tokenizerConfigPath);
        using JsonDocument document = JsonFields.Parse(File.ReadAllBytes(tokenizerConfigPath), tokenizerConfigPath);
        JsonElement? field = JsonFields.Optional(document.RootElement, "chat_template", tokenizerConfigPath, "");
        string template = field?.ValueKind switch
        {
            JsonValueKind.String => field.Value.GetString()!,
            JsonValueKind.Array => DefaultOfNamedTemplates(field.Value, tokenizerConfigPath),
            null or JsonValueKind.Null => throw new InvalidDataException(
                $"{tokenizerConfigPath} has no chat_template: the checkpoint names no chat format. Use ChatTemplate.PlainText for a model trained on plain text, or ChatTemplate.Custom."),
            _ => throw new InvalidDataException($"{tokenizerConfigPath}: chat_template is a JSON {field.Value.ValueKind}, not a string or a list of named templates."),
        };
        try
        {
            return FromJinja(template);
        }
        catch (NotSupportedException ex)
        {
            throw new NotSupportedException($"{tokenizerConfigPath}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// The prompt text this template writes for <paramref name="messages"/>, up to where the assistant's answer starts
    /// (what Hugging Face's <c>apply_chat_template(messages, tokenize=False, add_generation_prompt=True)</c> returns). The
    /// plain-text template's leading end-of-text id has no text here.
    /// </summary>
    /// <exception cref="ArgumentException">No messages, or a null message.</exception>
    /// <exception cref="NotSupportedException">A message with another role than system, user or assistant, or with content other than text.</exception>
    public string Render(IEnumerable<ChatMessage> messages) =>
        string.Concat(Format.Render(ChatConversation.Read(messages, null)).Select(s => s.Text));

    /// <summary>The name.</summary>
    public override string ToString() => Name;

    private static string DefaultOfNamedTemplates(JsonElement list, string source)
    {
        foreach (JsonElement entry in list.EnumerateArray())
        {
            if (entry.ValueKind == JsonValueKind.Object && JsonFields.OptionalString(entry, "name", source, "chat_template[]") == "default")
                return JsonFields.RequiredString(entry, "template", source, "chat_template[]");
        }
        throw new InvalidDataException($"{source}: chat_template lists named templates but none named \"default\".");
    }
}
