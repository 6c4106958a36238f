
namespace MLNet.MoE.Tests.Modeling;

/// <summary>The size limits are options: exceeding one names the field and the limit, and raising it lets the config through.</summary>
public class ModelSizeLimitsTests
{
    [Fact]
    public void ExceedingALimitNamesTheFieldAndTheLimitAndRaisingItLetsTheConfigThrough()
    {
        var config = new MoeModelConfig { NSharedExperts = 100 };
        var error = Assert.Throws<ArgumentException>(config.Validate);
        Assert.Contains("'n_shared_experts'", error.Message, StringComparison.Ordinal);
        Assert.Contains("ModelSizeLimits.SharedExperts", error.Message, StringComparison.Ordinal);

        var defaults = ModelSizeLimits.Default;
        try
        {
            ModelSizeLimits.Default = defaults with { SharedExperts = 128 };
            config.Validate();
        }
        finally
        {
            ModelSizeLimits.Default = defaults;
        }
    }
}
