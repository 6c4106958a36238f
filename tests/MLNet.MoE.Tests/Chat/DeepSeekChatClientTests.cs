using Microsoft.Extensions.AI;
using MLNet.MoE.Tests.Modeling;
using MLNet.MoE.Tests.Tokenization;
using TorchSharp;
using static MLNet.MoE.Tests.Chat.ChatTestData;

namespace MLNet.MoE.Tests.Chat;

/// <summary>
/// The chat client with DeepSeek-V3's template and tokenizer over a small randomly initialised model of DeepSeek-V3's
/// vocabulary: the prompt is the recorded one, and the end-of-sentence token ends the answer.
/// </summary>
public class DeepSeekChatClientTests
{
    /// <summary>A two-block model over the DeepSeek-V3 tokenizer's ids; <paramref name="endOfSentenceLike"/> makes its end-of-sentence logit 1.05 times that of the id given at step 4 of its greedy answer to <paramref name="prompt"/>, so that it ends its answers.</summary>
    private static LanguageModelTransformer Model(int[] prompt, bool endOfSentenceLike)
    {
        MoeTokenizer tokenizer = HuggingFaceParityData.DeepSeekV3;
        MoeModelConfig config = SmallModels.Base with { VocabSize = tokenizer.VocabularySize, MaxPositionEmbeddings = 128 };
        LanguageModelTransformer model = LanguageModelTransformer.Over(new MoeCausalLM(config, 5), tokenizer);
        if (endOfSentenceLike)
        {
            int step4 = model.GenerateTokens(prompt, new GenerationOptions { MaxNewTokens = 5, StopAtEndOfText = false })[4];
            using var noGrad = torch.no_grad();
            torch.Tensor weight = model.Model.state_dict()["lm_head.weight"];
            weight[tokenizer.EndOfTextId].copy_(weight[step4] * 1.05);
        }
        return model;
    }

    [Fact]
    public async Task ThePromptIsTheRecordedOneAndTheEndOfSentenceTokenEndsTheAnswer()
    {
        Case recorded = DeepSeekV3Cases.First(c => c.Name == "two system messages and several turns");
        using LanguageModelTransformer model = Model(recorded.Ids, endOfSentenceLike: true);
        int endOfSentence = model.Tokenizer.EndOfTextId;
        int[] expected = model.GenerateTokens(recorded.Ids, new GenerationOptions { MaxNewTokens = 12, StopAtEndOfText = false });
        int at = Array.IndexOf(expected, endOfSentence);
        Assert.True(at >= 0, "the model must write end-of-sentence within 12 tokens");

        using IChatClient client = model.AsIChatClient(ChatTemplate.DeepSeekV3);
        ChatResponse response = await client.GetResponseAsync(recorded.Messages, new ChatOptions { MaxOutputTokens = 12 });
        Assert.Equal(model.Tokenizer.Decode(expected.Take(at)), response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(recorded.Ids.Length, response.Usage!.InputTokenCount);
        Assert.Equal(at + 1, response.Usage.OutputTokenCount);
        Assert.DoesNotContain("<｜end▁of▁sentence｜>", response.Text);

        List<ChatResponseUpdate> updates = await StreamAsync(client, recorded.Messages, new ChatOptions { MaxOutputTokens = 12 });
        Assert.Equal(response.Text, TextOf(updates));
        Assert.Equal(ChatFinishReason.Stop, updates[^1].FinishReason);
    }

    [Fact]
    public async Task StreamingAndNonStreamingAgreeOnMultiByteTokensForAFixedSeed()
    {
        Case recorded = DeepSeekV3Cases.First(c => c.Name == "unicode, whitespace and code");
        using LanguageModelTransformer model = Model(recorded.Ids, endOfSentenceLike: false);
        using IChatClient client = model.AsIChatClient(ChatTemplate.DeepSeekV3, modelId: "deepseek-v3-tiny");
        var options = new ChatOptions { MaxOutputTokens = 24, Temperature = 1.0f, TopP = 0.9f, Seed = 3 };
        ChatResponse response = await client.GetResponseAsync(recorded.Messages, options);
        List<ChatResponseUpdate> updates = await StreamAsync(client, recorded.Messages, options);
        int[] expected = model.GenerateTokens(recorded.Ids, new GenerationOptions { MaxNewTokens = 24, Temperature = 1.0, TopP = 0.9f, Seed = 3 });
        Assert.Equal(model.Tokenizer.Decode(expected), response.Text);
        Assert.Equal(response.Text, TextOf(updates));
        Assert.True(updates.Count(u => u.Contents.OfType<TextContent>().Any()) > 1, "the answer is streamed in pieces");
        Assert.Equal("deepseek-v3-tiny", response.ModelId);
        Assert.Equal(recorded.Ids.Length, response.Usage!.InputTokenCount);
    }
}
