using Microsoft.Extensions.AI;
using static MLNet.MoE.Tests.Chat.ChatTestData;

namespace MLNet.MoE.Tests.Chat;

/// <summary>
/// The chat client over the trained byte-level KJV model with the plain-text template, on both backends: the answer is
/// the transformer's own generation of the same prompt, streaming gives the same text token by token, and the options,
/// finish reasons and token counts behave as documented.
/// </summary>
public class ChatClientTests
{
    private const string Prompt = "And God said";

    /// <summary>The ids the plain-text template gives <see cref="Prompt"/>: end-of-text, then its text.</summary>
    private static int[] PromptIds(LanguageModelTransformerBase model) => [model.Tokenizer.EndOfTextId, .. model.Tokenizer.Encode(Prompt)];

    /// <summary>The ids the transformer samples after <see cref="Prompt"/> with the options, not stopping at end-of-text.</summary>
    private static int[] Continuation(LanguageModelTransformerBase model, int maxNewTokens, double temperature = 0, int seed = 1) =>
        model.GenerateTokens(PromptIds(model), new GenerationOptions { MaxNewTokens = maxNewTokens, Temperature = temperature, Seed = seed, StopAtEndOfText = false });

    [Theory]
    [MemberData(nameof(Backends), MemberType = typeof(ChatTestData))]
    public async Task TheAnswerIsTheTransformersGenerationOfTheSamePrompt(string backend)
    {
        using LanguageModelTransformerBase model = TrainedBackend(backend);
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        ChatResponse greedy = await client.GetResponseAsync(Ask(Prompt), new ChatOptions { MaxOutputTokens = 12 });
        Assert.Equal(model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 12 }), greedy.Text);
        var sampling = new ChatOptions { MaxOutputTokens = 12, Temperature = 0.9f, TopK = 20, TopP = 0.95f, Seed = 5 };
        ChatResponse sampled = await client.GetResponseAsync(Ask(Prompt), sampling);
        Assert.Equal(model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 12, Temperature = 0.9f, TopK = 20, TopP = 0.95f, Seed = 5 }), sampled.Text);
        Assert.Equal(ChatRole.Assistant, Assert.Single(sampled.Messages).Role);
    }

    [Theory]
    [MemberData(nameof(Backends), MemberType = typeof(ChatTestData))]
    public async Task StreamingGivesTheNonStreamingTextTokenByTokenForAFixedSeed(string backend)
    {
        using LanguageModelTransformerBase model = TrainedBackend(backend);
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        var options = new ChatOptions { MaxOutputTokens = 16, Temperature = 0.8f, Seed = 11 };
        ChatResponse response = await client.GetResponseAsync(Ask(Prompt), options);
        List<ChatResponseUpdate> updates = await StreamAsync(client, Ask(Prompt), options);
        Assert.Equal(response.Text, TextOf(updates));
        // Each update holds what one token made certain (sampled bytes may split a character over tokens).
        int textUpdates = updates.Count(u => u.Contents.OfType<TextContent>().Any());
        Assert.InRange(textUpdates, 2, (int)response.Usage!.OutputTokenCount!.Value);
        // Greedy text of this model is ASCII: one byte-level token, one character, one update.
        List<ChatResponseUpdate> greedy = await StreamAsync(client, Ask(Prompt), new ChatOptions { MaxOutputTokens = 16 });
        string greedyText = TextOf(greedy);
        Assert.True(greedyText.All(char.IsAscii), greedyText);
        Assert.Equal(greedyText.Length, greedy.Count(u => u.Contents.OfType<TextContent>().Any()));
        Assert.Equal((await client.GetResponseAsync(Ask(Prompt), new ChatOptions { MaxOutputTokens = 16 })).Text, greedyText);
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        Assert.Single(updates.Select(u => u.MessageId).Distinct());
        Assert.Equal("mlnet-moe", updates[0].ModelId);
        ChatResponseUpdate last = updates[^1];
        Assert.Equal(response.FinishReason, last.FinishReason);
        Assert.Equal(response.Usage!.OutputTokenCount, Assert.IsType<UsageContent>(Assert.Single(last.Contents)).Details.OutputTokenCount);
        Assert.All(updates.Take(updates.Count - 1), u => Assert.Null(u.FinishReason));
    }

    [Theory]
    [MemberData(nameof(Backends), MemberType = typeof(ChatTestData))]
    public async Task MaxOutputTokensEndsTheAnswerWithLengthAndTheUsageCountsTheTokens(string backend)
    {
        using LanguageModelTransformerBase model = TrainedBackend(backend);
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        int[] expected = Continuation(model, 6);
        Assert.DoesNotContain(model.Tokenizer.EndOfTextId, expected);
        ChatResponse response = await client.GetResponseAsync(Ask(Prompt), new ChatOptions { MaxOutputTokens = 6 });
        Assert.Equal(model.Tokenizer.Decode(expected), response.Text);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(PromptIds(model).Length, response.Usage!.InputTokenCount);
        Assert.Equal(6, response.Usage.OutputTokenCount);
        Assert.Equal(PromptIds(model).Length + 6, response.Usage.TotalTokenCount);
    }

    [Theory]
    [MemberData(nameof(Backends), MemberType = typeof(ChatTestData))]
    public async Task AStopSequenceSpanningSeveralTokensCutsTheAnswerAndIsNeverStreamed(string backend)
    {
        using LanguageModelTransformerBase model = TrainedBackend(backend);
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        int[] ids = Continuation(model, 16);
        string full = model.Tokenizer.Decode(ids);
        Assert.DoesNotContain(model.Tokenizer.EndOfTextId, ids);
        // Three characters (three byte-level tokens) from the middle of the answer; the answer ends before their first occurrence.
        string stop = full.Substring(6, 3);
        int cut = full.IndexOf(stop, StringComparison.Ordinal);
        int tokensToStop = Enumerable.Range(1, ids.Length).First(n => model.Tokenizer.Decode(ids.Take(n)).Contains(stop, StringComparison.Ordinal));
        var options = new ChatOptions { MaxOutputTokens = 16, StopSequences = ["never appears \u0001", stop] };

        ChatResponse response = await client.GetResponseAsync(Ask(Prompt), options);
        Assert.Equal(full[..cut], response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(tokensToStop, response.Usage!.OutputTokenCount);

        List<ChatResponseUpdate> updates = await StreamAsync(client, Ask(Prompt), options);
        Assert.Equal(full[..cut], TextOf(updates));
        Assert.Equal(ChatFinishReason.Stop, updates[^1].FinishReason);
    }

    [Theory]
    [MemberData(nameof(Backends), MemberType = typeof(ChatTestData))]
    public async Task TextThatOnlyBeginsAStopSequenceIsHeldBackThenGivenOutWhenTheAnswerEnds(string backend)
    {
        using LanguageModelTransformerBase model = TrainedBackend(backend);
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        string full = model.Tokenizer.Decode(Continuation(model, 10));
        // The answer's last two characters start this stop sequence, whose last character the model never writes.
        var options = new ChatOptions { MaxOutputTokens = 10, StopSequences = [full[^2..] + "\u0001"] };
        List<ChatResponseUpdate> updates = await StreamAsync(client, Ask(Prompt), options);
        Assert.Equal(full, TextOf(updates));
        Assert.Equal(ChatFinishReason.Length, updates[^1].FinishReason);
        // The two held characters come in one piece, after the update of the token that made them certain, i.e. at the end.
        Assert.Equal(full[^2..], TextOf(updates.Where(u => u.Contents.OfType<TextContent>().Any()).TakeLast(1)));
    }

    [Fact]
    public async Task TheEndOfTextTokenEndsTheAnswerWithStopAndIsCounted()
    {
        using var model = (LanguageModelTransformer)TrainedBackend("torchsharp");
        int endOfText = model.Tokenizer.EndOfTextId;
        // The briefly trained model seldom writes end-of-text; make its end-of-text logit 1.05 times that of the byte it
        // writes at step 4, so it ends there (or before, where that byte was nearly as likely).
        int step4 = Continuation(model, 5)[4];
        using (var noGrad = TorchSharp.torch.no_grad())
        {
            TorchSharp.torch.Tensor weight = model.Model.state_dict()["lm_head.weight"];
            weight[endOfText].copy_(weight[step4] * 1.05);
        }
        int[] ids = Continuation(model, 12);
        int at = Array.IndexOf(ids, endOfText);
        Assert.True(at >= 0, "the model must write end-of-text within 12 tokens");
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        ChatResponse response = await client.GetResponseAsync(Ask(Prompt), new ChatOptions { MaxOutputTokens = 12 });
        Assert.Equal(model.Tokenizer.Decode(ids.Take(at)), response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(at + 1, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task InstructionsAndSystemMessagesAreTextBeforeTheConversationInThePlainTemplate()
    {
        using LanguageModelTransformerBase model = TrainedBackend("torchsharp");
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        List<ChatMessage> messages = [new(ChatRole.System, "In the"), new(ChatRole.User, "God"), new(ChatRole.Assistant, "made")];
        ChatResponse response = await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 8, Instructions = "Gen" });
        Assert.Equal(model.Generate("Gen\nIn the\nGod\nmade", new GenerationOptions { MaxNewTokens = 8 }), response.Text);
        Assert.Equal("Gen\nIn the\nGod\nmade", ChatTemplate.PlainText.Render([new(ChatRole.System, "Gen"), .. messages]));
    }

    [Fact]
    public async Task AnswerStopsWhereTheContextEndsAndAConversationLongerThanTheContextIsRefused()
    {
        using LanguageModelTransformerBase model = TrainedBackend("torchsharp");
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        string prompt = new('a', model.ContextLength - 4); // end-of-text + 28 bytes: room for 3 new tokens
        int[] promptIds = [model.Tokenizer.EndOfTextId, .. model.Tokenizer.Encode(prompt)];
        int[] room = model.GenerateTokens(promptIds, new GenerationOptions { MaxNewTokens = 3, StopAtEndOfText = false });
        Assert.DoesNotContain(model.Tokenizer.EndOfTextId, room);
        ChatResponse response = await client.GetResponseAsync(Ask(prompt), new ChatOptions { MaxOutputTokens = 50 });
        Assert.Equal(model.ContextLength - 3, response.Usage!.InputTokenCount);
        Assert.Equal(3, response.Usage.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(model.Tokenizer.Decode(room), response.Text);
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Ask(new string('a', model.ContextLength))));
        Assert.Contains("context holds 32 tokens", tooLong.Message);
        Assert.Equal("messages", tooLong.ParamName);
    }

    [Fact]
    public async Task BadInputIsRefusedWithErrorsNamingIt()
    {
        using LanguageModelTransformerBase model = TrainedBackend("torchsharp");
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        var empty = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(new List<ChatMessage>()));
        Assert.Contains("no messages", empty.Message);
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.GetResponseAsync((IEnumerable<ChatMessage>)null!));
        var nullMessage = await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "x"), null!]));
        Assert.Contains("Message 1", nullMessage.Message);

        var image = new ChatMessage(ChatRole.User, [new TextContent("What is this?"), new DataContent(new byte[] { 1, 2, 3 }, "image/png")]);
        var imageError = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([image]));
        Assert.Contains("Message 0 (user) holds a DataContent", imageError.Message);
        var call = new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("call-1", "lookup")]);
        Assert.Contains("FunctionCallContent", (await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([call]))).Message);
        var tool = new ChatMessage(ChatRole.Tool, "42");
        Assert.Contains("role 'tool'", (await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([tool]))).Message);
        // The streaming call checks its input when it is made, before any update.
        Assert.Throws<NotSupportedException>(() => client.GetStreamingResponseAsync([image]));

        async Task<string> OptionError<TException>(ChatOptions options) where TException : Exception =>
            (await Assert.ThrowsAsync<TException>(() => client.GetResponseAsync(Ask(Prompt), options))).Message;
        Assert.Contains("ChatOptions.MaxOutputTokens", await OptionError<ArgumentOutOfRangeException>(new ChatOptions { MaxOutputTokens = 0 }));
        Assert.Contains("ChatOptions.Temperature", await OptionError<ArgumentOutOfRangeException>(new ChatOptions { Temperature = -0.5f }));
        Assert.Contains("ChatOptions.Temperature", await OptionError<ArgumentOutOfRangeException>(new ChatOptions { Temperature = float.NaN }));
        Assert.Contains("ChatOptions.TopP", await OptionError<ArgumentOutOfRangeException>(new ChatOptions { TopP = 0 }));
        Assert.Contains("ChatOptions.TopK", await OptionError<ArgumentOutOfRangeException>(new ChatOptions { TopK = -1 }));
        Assert.Contains("ChatOptions.Seed", await OptionError<ArgumentOutOfRangeException>(new ChatOptions { Seed = long.MaxValue }));
        Assert.Contains("ChatOptions.StopSequences", await OptionError<ArgumentOutOfRangeException>(new ChatOptions { StopSequences = [""] }));
        Assert.Contains("ChatOptions.Tools", await OptionError<NotSupportedException>(new ChatOptions { Tools = [AIFunctionFactory.Create(() => 42, "answer")] }));
        Assert.Contains("ChatOptions.ResponseFormat", await OptionError<NotSupportedException>(new ChatOptions { ResponseFormat = ChatResponseFormat.Json }));
        Assert.Contains("ChatOptions.FrequencyPenalty", await OptionError<NotSupportedException>(new ChatOptions { FrequencyPenalty = 0.5f }));
        Assert.Contains("ChatOptions.PresencePenalty", await OptionError<NotSupportedException>(new ChatOptions { PresencePenalty = 0.5f }));
        Assert.Contains("ChatOptions.ConversationId", await OptionError<NotSupportedException>(new ChatOptions { ConversationId = "c-1" }));

        // The client still answers after all of these.
        Assert.Equal(ChatFinishReason.Length, (await client.GetResponseAsync(Ask(Prompt), new ChatOptions { MaxOutputTokens = 1, StopSequences = ["\u0001"] })).FinishReason);
    }

    [Fact]
    public async Task ACancelledRequestThrowsAndAStreamLeftEarlyFreesTheClient()
    {
        using LanguageModelTransformerBase model = TrainedBackend("torchsharp");
        using IChatClient client = model.AsIChatClient(ChatTemplate.PlainText);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(Ask(Prompt), cancellationToken: cancelled.Token));

        using var midway = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(Ask(Prompt), new ChatOptions { MaxOutputTokens = 16, StopSequences = ["\u0001"] }, midway.Token))
            {
                if (++seen == 2) midway.Cancel();
            }
        });

        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(Ask(Prompt), new ChatOptions { MaxOutputTokens = 16 }))
        {
            break;
        }
        ChatResponse after = await client.GetResponseAsync(Ask(Prompt), new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 4 }), after.Text);
    }

    [Fact]
    public void TheClientDescribesItselfAndLeavesTheTransformerOpen()
    {
        using LanguageModelTransformerBase model = TrainedBackend("torchsharp");
        IChatClient client = model.AsIChatClient(ChatTemplate.PlainText, modelId: "kjv-tiny");
        var metadata = client.GetService<ChatClientMetadata>();
        Assert.Equal("MLNet.MoE", metadata!.ProviderName);
        Assert.Equal("kjv-tiny", metadata.DefaultModelId);
        Assert.Same(model, client.GetService<LanguageModelTransformerBase>());
        Assert.Same(ChatTemplate.PlainText, client.GetService<ChatTemplate>());
        Assert.Null(client.GetService<ChatClientMetadata>("some key"));
        client.Dispose();
        Assert.Throws<ObjectDisposedException>(() => client.GetStreamingResponseAsync(Ask(Prompt)));
        Assert.NotEmpty(model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 2, StopAtEndOfText = false }));
    }

    [Fact]
    public void ATemplateWhoseMarkersTheTokenizerLacksIsRefusedWhenTheClientIsMade()
    {
        using LanguageModelTransformerBase model = TrainedBackend("torchsharp");
        var error = Assert.Throws<ArgumentException>(() => model.AsIChatClient(ChatTemplate.DeepSeekV3));
        Assert.Contains("\"<｜begin▁of▁sentence｜>\" as one token", error.Message);
        Assert.Contains("ChatTemplate.PlainText", error.Message);
    }
}
