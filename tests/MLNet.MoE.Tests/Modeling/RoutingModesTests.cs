namespace MLNet.MoE.Tests.Modeling;

/// <summary>
/// Every branch on a routing mode names each value it handles: a value that no branch lists is refused, naming itself,
/// rather than taking another value's arithmetic.
/// </summary>
public class RoutingModesTests
{
    [Theory]
    [InlineData("noaux_tc", true, true)]
    [InlineData("group_limited_greedy", false, true)]
    [InlineData("greedy", false, false)]
    public void EachSelectionMethodHasItsBiasAndGroupRule(string topkMethod, bool usesBias, bool groupLimited)
    {
        var modes = RoutingModes.Of(MoeModelConfig.Tiny with { TopkMethod = topkMethod });
        Assert.Equal(usesBias, modes.UsesSelectionBias);
        Assert.Equal(groupLimited, modes.IsGroupLimited);
    }

    [Fact]
    public void AnUnlistedSelectionIsRefusedNamingIt()
    {
        var modes = new RoutingModes(RouterScoring.Sigmoid, (ExpertSelection)42);
        var error = Assert.Throws<NotSupportedException>(() => modes.IsGroupLimited);
        Assert.Contains("ExpertSelection.42", error.Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => modes.UsesSelectionBias);
    }
}
