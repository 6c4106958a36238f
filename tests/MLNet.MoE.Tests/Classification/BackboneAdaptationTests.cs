using Microsoft.ML;
using TorchSharp;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>Fine-tuning a pre-trained backbone: a smaller learning rate for it, and language-model steps on the task's text first.</summary>
public class BackboneAdaptationTests
{
    [Fact]
    public void OptimizerGroupsScaleTheBackboneAndLeaveTheHeadAtTheFullRate()
    {
        using var backbone = new MoeCausalLM(TinyConfig, seed: 3);
        using var classifier = new MoeTextClassifier(backbone, 3, TextPooling.Mean, 0.1, seed: 3);
        var (decay, noDecay) = classifier.ParameterGroupsForWeightDecay();

        var groups = classifier.OptimizerGroups(0.01, 0.25);

        var backboneParameters = backbone.parameters().ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.Equal(decay.Count + noDecay.Count, groups.Sum(g => g.Parameters.Count));
        foreach (var group in groups)
        {
            Assert.All(group.Parameters, p => Assert.Equal(group.LearningRateScale == 0.25, backboneParameters.Contains(p)));
            Assert.All(group.Parameters, p => Assert.Contains(p, group.WeightDecay == 0 ? noDecay : decay));
        }
        Assert.Contains(groups, g => g.LearningRateScale == 1.0 && g.Parameters.Count > 0);
        Assert.Contains(groups, g => g.LearningRateScale == 0.25 && g.Parameters.Count > 0);
    }

    [Fact]
    public void ASmallerBackboneRateMovesTheBackboneLess()
    {
        double Moved(double scale)
        {
            var ml = new MLContext(seed: 1);
            using var initial = new MoeCausalLM(TinyConfig, seed: 11);
            using var before = initial.state_dict()["model.embed_tokens.weight"].clone();
            var options = Options(epochs: 1);
            options.Model = null;
            options.InitialModel = LanguageModelTransformer.Over(initial, MoeTokenizer.ByteLevel());
            options.BackboneLearningRateScale = scale;
            options.ValidationFraction = 0;
            var classifier = Classifier(ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(32))));
            try
            {
                using var after = classifier.Model.Backbone.state_dict()["model.embed_tokens.weight"].cpu();
                return (after - before).abs().sum().item<float>();
            }
            finally
            {
                classifier.Dispose();
            }
        }

        double full = Moved(1.0), tenth = Moved(0.1);
        Assert.True(tenth > 0 && tenth < 0.5 * full, $"backbone moved {tenth} at 0.1× and {full} at 1×");
    }

    [Fact]
    public void LanguageModelStepsTrainTheBackboneOnTheTrainingTextFirst()
    {
        (float[] Embedding, List<string> Log) Run(int languageModelSteps)
        {
            var ml = new MLContext(seed: 1);
            var log = new List<string>();
            ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
            var options = Options(epochs: 1);
            options.MaxSteps = 1;
            options.LanguageModelSteps = languageModelSteps;
            options.ValidationFraction = 0;
            var classifier = Classifier(ClassifierPipeline(ml, options).Fit(ml.Data.LoadFromEnumerable(Reviews(32))));
            try
            {
                return (classifier.Model.Backbone.state_dict()["model.embed_tokens.weight"].cpu().data<float>().ToArray(), log);
            }
            finally
            {
                classifier.Dispose();
            }
        }

        var (plain, plainLog) = Run(0);
        var (adapted, adaptedLog) = Run(6);

        Assert.DoesNotContain(plainLog, m => m.Contains("Adapted the backbone", StringComparison.Ordinal));
        Assert.Contains(adaptedLog, m => m.Contains("Adapted the backbone with 6 language-model steps", StringComparison.Ordinal));
        Assert.Contains(adaptedLog, m => m.Contains("Language-model adaptation on the training text: step 6/6", StringComparison.Ordinal));
        Assert.NotEqual(plain, adapted);
    }
}
