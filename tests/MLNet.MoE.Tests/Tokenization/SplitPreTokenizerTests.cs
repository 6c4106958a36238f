using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace MLNet.MoE.Tests.Tokenization;

public class SplitPreTokenizerTests
{
    private const string Text = "the-final--countdown";

    private static string[] Pieces(PreTokenizer preTokenizer, string text) =>
        preTokenizer.PreTokenize(text).Select(r => text.Substring(r.Offset, r.Length)).ToArray();

    // The expected pieces are the examples of Hugging Face's SplitDelimiterBehavior documentation.
    [Theory]
    [InlineData("Removed", new[] { "the", "final", "countdown" })]
    [InlineData("Isolated", new[] { "the", "-", "final", "-", "-", "countdown" })]
    [InlineData("MergedWithPrevious", new[] { "the-", "final-", "-", "countdown" })]
    [InlineData("MergedWithNext", new[] { "the", "-final", "-", "-countdown" })]
    [InlineData("Contiguous", new[] { "the", "-", "final", "--", "countdown" })]
    public void FollowsHuggingFaceBehaviors(string behavior, string[] expected)
    {
        Assert.Equal(expected, Pieces(new SplitPreTokenizer(new Regex("-"), Enum.Parse<SplitBehavior>(behavior), invert: false, "test split"), Text));
    }

    [Fact]
    public void InvertTreatsTheGapsAsDelimiters()
    {
        var split = new SplitPreTokenizer(new Regex("-"), SplitBehavior.Removed, invert: true, "test split");
        Assert.Equal(["-", "-", "-"], Pieces(split, Text));
    }

    [Fact]
    public void SequenceSplitsEveryPieceAgain()
    {
        var sequence = new SequencePreTokenizer(
        [
            new SplitPreTokenizer(new Regex(" "), SplitBehavior.Removed, invert: false, "test split"),
            new SplitPreTokenizer(new Regex(@"\d"), SplitBehavior.Isolated, invert: false, "test split"),
        ]);
        Assert.Equal(["ab", "1", "2", "cd", "3", "x"], Pieces(sequence, "ab12 cd3x"));
        Assert.Equal(["ab", "1", "2", "cd", "3", "x"], sequence.PreTokenize("ab12 cd3x".AsSpan()).Select(r => "ab12 cd3x".Substring(r.Offset, r.Length)).ToArray());
    }
}
