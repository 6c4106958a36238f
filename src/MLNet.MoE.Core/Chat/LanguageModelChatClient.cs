using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;

namespace MLNet.MoE;

/// <summary>
/// A language model (either backend) as Microsoft.Extensions.AI's <see cref="IChatClient"/>. A request renders the
/// conversation with the chat template, then samples the answer token by token from the backend's key/value-cached
/// decoding session (<see cref="TextGeneration.SampleIds"/>), on a thread of its own so a caller's thread never waits on
/// the model; each token's certain text is streamed as it comes (<see cref="ChatTextStream"/>), and the last update
/// carries the finish reason and the token counts. A non-streaming response is the streamed updates put together, so the
/// two give the same text. Requests to one client run one at a time. The client does not own the transformer.
/// </summary>
internal sealed class LanguageModelChatClient : IChatClient
{
    private readonly LanguageModelTransformerBase transformer;
    private readonly ChatTemplate template;
    private readonly ChatPromptEncoder encoder;
    private readonly ChatClientMetadata metadata;
    private readonly SemaphoreSlim oneAtATime = new(1, 1);
    private bool disposed;

    public LanguageModelChatClient(LanguageModelTransformerBase transformer, ChatTemplate template, string modelId)
    {
        this.transformer = transformer;
        this.template = template;
        encoder = new ChatPromptEncoder(template, transformer.Tokenizer);
        metadata = new ChatClientMetadata("MLNet.MoE", providerUri: null, defaultModelId: modelId);
    }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ChatRequest request = Prepare(messages, options);
        return Stream(request, cancellationToken);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return metadata;
        if (serviceType == typeof(ChatTemplate)) return template;
        if (serviceType.IsInstanceOfType(transformer)) return transformer;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Frees the client's own resources; the transformer stays usable (its owner disposes it).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        oneAtATime.Dispose();
    }

    /// <summary>What one request samples: checked and encoded before any update is streamed.</summary>
    private sealed record ChatRequest(int[] Prompt, int MaxNewTokens, ChatSettings Settings);

    private ChatRequest Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        IReadOnlyList<ChatTurn> turns = ChatConversation.Read(messages, options?.Instructions);
        ChatSettings settings = ChatSettings.From(options, transformer.Generation);
        int[] prompt = encoder.Encode(turns);
        int context = transformer.ContextLength;
        if (prompt.Length >= context)
        {
            throw new ArgumentException(
                $"The conversation is {prompt.Length:N0} tokens long in the {template.Name} chat format, but the language model's context holds {context:N0} tokens, " +
                "prompt and answer together: leave out earlier messages.", nameof(messages));
        }
        // The answer stops where the context ends (finish reason Length), as when MaxOutputTokens is reached.
        return new ChatRequest(prompt, Math.Min(settings.MaxOutputTokens, context - prompt.Length), settings);
    }

    private async IAsyncEnumerable<ChatResponseUpdate> Stream(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await oneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var answer = new Answer(
                ResponseId: "chatcmpl-" + Guid.NewGuid().ToString("N"),
                MessageId: "msg-" + Guid.NewGuid().ToString("N"),
                CreatedAt: DateTimeOffset.UtcNow,
                ModelId: metadata.DefaultModelId);
            var channel = Channel.CreateUnbounded<ChatResponseUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            // One dedicated thread per answer: a decoding session keeps per-thread state of its backend (TorchSharp's
            // no-grad mode), so all of its steps run there.
            Task producer = Task.Factory.StartNew(() =>
            {
                try
                {
                    Sample(request, answer, channel.Writer, stop.Token);
                }
                finally
                {
                    channel.Writer.TryComplete();
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            try
            {
                while (await channel.Reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    while (channel.Reader.TryRead(out ChatResponseUpdate? update)) yield return update;
                }
                await producer.ConfigureAwait(false);
            }
            finally
            {
                // The caller may stop reading early: stop sampling, and wait until the session is closed.
                stop.Cancel();
                await producer.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            }
        }
        finally
        {
            oneAtATime.Release();
        }
    }

    /// <summary>The ids every update of one answer shares.</summary>
    private sealed record Answer(string ResponseId, string MessageId, DateTimeOffset CreatedAt, string? ModelId)
    {
        public ChatResponseUpdate Update(IList<AIContent> contents) => new(ChatRole.Assistant, contents)
        {
            ResponseId = ResponseId,
            MessageId = MessageId,
            CreatedAt = CreatedAt,
            ModelId = ModelId,
        };
    }

    private void Sample(ChatRequest request, Answer answer, ChannelWriter<ChatResponseUpdate> updates, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var text = new ChatTextStream(transformer.Tokenizer, request.Settings.StopSequences);
        int sampled = 0;
        ChatFinishReason finish = ChatFinishReason.Length;
        foreach (int id in TextGeneration.SampleIds(transformer.Runner, request.Prompt, request.MaxNewTokens, request.Settings.Sampler()))
        {
            sampled++;
            if (encoder.EndIds.Contains(id))
            {
                finish = ChatFinishReason.Stop;
                break;
            }
            Write(updates, answer, text.Add(id));
            if (text.Stopped)
            {
                finish = ChatFinishReason.Stop;
                break;
            }
            cancellationToken.ThrowIfCancellationRequested();
        }
        Write(updates, answer, text.Finish());
        ChatResponseUpdate last = answer.Update(new List<AIContent>
        {
            new UsageContent(new UsageDetails
            {
                InputTokenCount = request.Prompt.Length,
                OutputTokenCount = sampled,
                TotalTokenCount = request.Prompt.Length + sampled,
            }),
        });
        last.FinishReason = finish;
        updates.TryWrite(last);
    }

    private static void Write(ChannelWriter<ChatResponseUpdate> updates, Answer answer, string piece)
    {
        if (piece.Length > 0) updates.TryWrite(answer.Update(new List<AIContent> { new TextContent(piece) }));
    }
}
