using Microsoft.ML.OnnxRuntimeGenAI;

namespace MLNet.MoE.Tests.Onnx;

/// <summary>ONNX Runtime GenAI generating from an export folder (genai_config.json beside model.onnx).</summary>
public class GenAIGenerationTests
{
    private static int[] GenAIGreedy(string directory, int[] prompt, int newTokens)
    {
        using var model = new Model(directory);
        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("max_length", prompt.Length + newTokens);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(prompt);
        while (!generator.IsDone()) generator.GenerateNextToken();
        return generator.GetSequence(0).ToArray()[prompt.Length..];
    }

    [Fact]
    public void GreedyGenerationOnTheFixtureIsIdenticalToTokenGenerator()
    {
        using var model = HuggingFaceCheckpoint.Load(TestPaths.HuggingFaceFixture);
        string directory = TestPaths.NewTempDirectory();
        OnnxExporter.Export(model, null, directory);
        int[] prompt = { 0, 17, 42, 99, 3 };
        // The fixture's eos (1) could stop GenAI early; TokenGenerator runs without a stop id here, so compare the common prefix length too.
        int[] ours = TokenGenerator.Generate(model, prompt, 12, new TokenSampler(0, 0, 1, 1));
        int[] genai = GenAIGreedy(directory, prompt, 12);
        Assert.Equal(ours[..genai.Length], genai);
        Assert.True(genai.Length == ours.Length || genai[^1] == model.Config.EosTokenId);
    }

    [Fact]
    public void GreedyGenerationOnTheTrainedModelIsIdenticalToTokenGenerator()
    {
        var trained = TrainedModel.Instance;
        var tokenizer = trained.Transformer.Tokenizer;
        int[] prompt = new[] { tokenizer.EndOfTextId }.Concat(tokenizer.Encode("And God said")).ToArray();
        int[] ours = TokenGenerator.Generate(trained.Transformer.Model, prompt, 16, new TokenSampler(0, 0, 1, 1), stopId: tokenizer.EndOfTextId);
        int[] genai = GenAIGreedy(trained.Directory, prompt, 16);
        if (genai.Length > ours.Length) Assert.Equal(tokenizer.EndOfTextId, genai[ours.Length]);
        Assert.Equal(ours, genai[..ours.Length]);
    }

    [Fact]
    public void GenAIsOwnTokenizerReadsTheExportedByteLevelTokenizerAndMatchesMoeTokenizer()
    {
        var trained = TrainedModel.Instance;
        var tokenizer = trained.Transformer.Tokenizer;
        Assert.True(File.Exists(Path.Combine(trained.Directory, "tokenizer.json")));
        Assert.True(File.Exists(Path.Combine(trained.Directory, "tokenizer_config.json")));
        using var model = new Model(trained.Directory);
        using var genai = new Tokenizer(model);
        foreach (string text in new[] { "And God said, Let there be light: and there was light.", "  two  spaces, tabs\tand\nlines", "café naïve — “quotes” 日本語 🙂", "" })
        {
            using var sequences = genai.Encode(text);
            int[] ids = sequences[0].ToArray();
            Assert.Equal(tokenizer.Encode(text), ids);
            Assert.Equal(text, genai.Decode(ids));
        }
        // Generation with GenAI's own tokenizer from text in, to text out, as the ML.NET transformer's tokens.
        int[] prompt = new[] { tokenizer.EndOfTextId }.Concat(tokenizer.Encode("And God said")).ToArray();
        int[] generated = GenAIGreedy(trained.Directory, prompt, 12);
        Assert.Equal(tokenizer.Decode(generated.TakeWhile(t => t != tokenizer.EndOfTextId)), genai.Decode(generated.TakeWhile(t => t != tokenizer.EndOfTextId).ToArray()));
    }
}
