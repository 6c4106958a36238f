
namespace MLNet.MoE.Tests.Classification;

/// <summary>The classifier's tensor layout computed from its config (checked against a zip before members are built) is its state dict.</summary>
public class ClassifierTensorLayoutTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(24)]
    public void TheComputedLayoutIsTheClassifiersStateDict(int headHiddenSize)
    {
        var config = MLNet.MoE.Tests.Modeling.SmallModels.Base;
        using var model = new MoeTextClassifier(new MoeCausalLM(config), 3, TextPooling.Mean, headHiddenSize: headHiddenSize);
        var actual = model.state_dict().Select(kv => (kv.Key, string.Join(",", kv.Value.shape))).OrderBy(t => t.Key, StringComparer.Ordinal).ToList();
        var computed = MoeTextClassifier.TensorLayout(config, 3, headHiddenSize).Select(t => (t.Name, string.Join(",", t.Shape))).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(actual, computed);
    }
}
