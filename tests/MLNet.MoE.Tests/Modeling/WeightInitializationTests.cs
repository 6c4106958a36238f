using Microsoft.ML;
using MLNet.MoE.Tests.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>The initialization schemes of a fresh model, and that a trained language model starts from the default one.</summary>
public class WeightInitializationTests
{
    private static MoeModelConfig Config => SmallModels.Base with { VocabSize = 512, HiddenSize = 64, InitializerRange = 0.02 };

    private static double Std(MoeCausalLM model, string name) => model.state_dict()[name].std().item<float>();

    [Fact]
    public void EachSchemeDrawsTheEmbeddingAndTheMatricesAtItsOwnScale()
    {
        using var huggingFace = new MoeCausalLM(Config, 3, WeightInitialization.HuggingFace);
        using var unitEmbedding = new MoeCausalLM(Config, 3, WeightInitialization.UnitEmbedding);
        using var fanIn = new MoeCausalLM(Config, 3, WeightInitialization.FanIn);
        const string embedding = "model.embed_tokens.weight";
        const string oProj = "model.layers.0.self_attn.o_proj.weight";       // [64, 16]: fan-in 16
        const string experts = "model.layers.1.mlp.experts.gate_up_proj";   // [8, 32, 64]: fan-in 64

        Assert.Equal(0.02, Std(huggingFace, embedding), 0.003);
        Assert.Equal(0.02, Std(huggingFace, oProj), 0.004);
        Assert.Equal(1.0, Std(unitEmbedding, embedding), 0.05);
        Assert.Equal(0.02, Std(unitEmbedding, oProj), 0.004);
        Assert.Equal(0.02, Std(unitEmbedding, experts), 0.003);
        Assert.Equal(1.0, Std(fanIn, embedding), 0.05);
        Assert.Equal(1 / Math.Sqrt(3 * 16), Std(fanIn, oProj), 0.02);   // U(±1/√16)
        Assert.Equal(1 / Math.Sqrt(64), Std(fanIn, experts), 0.01);
        // Norms and the routing bias are the same in every scheme.
        foreach (var model in new[] { huggingFace, unitEmbedding, fanIn })
        {
            Assert.Equal(1.0f, model.state_dict()["model.norm.weight"].min().item<float>());
            Assert.Equal(0.0f, model.state_dict()["model.layers.1.mlp.gate.e_score_correction_bias"].abs().max().item<float>());
        }
    }

    [Fact]
    public void TheTrainerStartsFromTheChosenSchemeAndAnUnknownSchemeIsRefused()
    {
        Assert.Equal(WeightInitialization.UnitEmbedding, new LanguageModelOptions().Initialization);
        Assert.Equal(WeightInitialization.UnitEmbedding, new MoeTextClassificationOptions().Initialization);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(PipelineTestData.Verses(40));
        var options = PipelineTestData.Options(steps: 1);
        options.LearningRate = 1e-6;   // one tiny step: the weights are still the initial ones to the tested precision
        var byDefault = PipelineTestData.Train(ml, data, options).LastTransformer;
        Assert.Equal(1.0, byDefault.Model.state_dict()["model.embed_tokens.weight"].std().item<float>(), 0.05);
        byDefault.Dispose();
        options.Initialization = WeightInitialization.HuggingFace;
        var huggingFace = PipelineTestData.Train(ml, data, options).LastTransformer;
        Assert.Equal(0.02, huggingFace.Model.state_dict()["model.embed_tokens.weight"].std().item<float>(), 0.003);
        huggingFace.Dispose();

        options.Initialization = (WeightInitialization)7;
        var error = Assert.ThrowsAny<ArgumentException>(() => options.Validate());
        Assert.Contains("Initialization", error.Message);
    }
}
