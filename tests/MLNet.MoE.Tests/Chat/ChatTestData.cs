using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.ML;
using MLNet.MoE.Tests.Onnx;

namespace MLNet.MoE.Tests.Chat;

/// <summary>
/// The chat tests' data: the DeepSeek-V3 template's prompts and ids recorded by Hugging Face's renderer and tokenizer
/// (TestData/chat, see its README), the trained model of the ONNX tests behind either backend, and helpers that run a
/// chat client.
/// </summary>
internal static class ChatTestData
{
    /// <summary>One recorded conversation: its messages, the prompt text the Jinja template renders, and that text's ids.</summary>
    public sealed record Case(string Name, IReadOnlyList<ChatMessage> Messages, string Text, int[] Ids);

    private static readonly Lazy<(string Template, IReadOnlyList<Case> Cases)> Recorded = new(() =>
    {
        string path = Path.Combine(AppContext.BaseDirectory, "TestData", "chat", "deepseek-v3.chat.expected.json");
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path));
        JsonElement root = document.RootElement;
        var cases = root.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("name").GetString()!,
            c.GetProperty("messages").EnumerateArray()
                .Select(m => new ChatMessage(new ChatRole(m.GetProperty("role").GetString()!), m.GetProperty("content").GetString()!))
                .ToList(),
            c.GetProperty("text").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray())).ToList();
        return (root.GetProperty("chatTemplate").GetString()!, cases);
    });

    /// <summary>DeepSeek-V3's Jinja chat_template, as its tokenizer_config.json holds it.</summary>
    public static string DeepSeekV3JinjaTemplate => Recorded.Value.Template;

    /// <summary>The recorded conversations.</summary>
    public static IReadOnlyList<Case> DeepSeekV3Cases => Recorded.Value.Cases;

    /// <summary>The backends a chat client runs over.</summary>
    public static TheoryData<string> Backends => new() { "torchsharp", "onnx" };

    /// <summary>
    /// The small KJV model the ONNX tests train (byte-level tokenizer, context 32), as a transformer of its own (a copy of
    /// the TorchSharp model, or a session over its ONNX export), which the caller disposes.
    /// </summary>
    public static LanguageModelTransformerBase TrainedBackend(string backend)
    {
        TrainedModel trained = TrainedModel.Instance;
        LanguageModelTransformer source = trained.Transformer;
        var generation = new GenerationOptions();
        if (backend == "torchsharp")
            return new LanguageModelTransformer(source.Model.Copy(), source.Tokenizer, "Tokens", null, source.ContextLength, generation, null);
        return new MLContext(seed: 1).MoeOnnx().LoadLanguageModel(trained.Directory, contextLength: source.ContextLength, generation: generation);
    }

    /// <summary>One user message.</summary>
    public static List<ChatMessage> Ask(string text) => [new ChatMessage(ChatRole.User, text)];

    /// <summary>Every update of a streamed answer.</summary>
    public static async Task<List<ChatResponseUpdate>> StreamAsync(IChatClient client, IEnumerable<ChatMessage> messages, ChatOptions? options = null)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(messages, options)) updates.Add(update);
        return updates;
    }

    /// <summary>The text of the updates' text contents, in order.</summary>
    public static string TextOf(IEnumerable<ChatResponseUpdate> updates) =>
        string.Concat(updates.SelectMany(u => u.Contents).OfType<TextContent>().Select(t => t.Text));
}
