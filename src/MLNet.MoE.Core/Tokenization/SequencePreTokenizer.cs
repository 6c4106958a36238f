using Microsoft.ML.Tokenizers;

namespace MLNet.MoE;

/// <summary>
/// The Hugging Face "Sequence" pre-tokenizer: every stage splits each piece the previous stage produced; the Split
/// stages share one <see cref="EncodeDeadline"/> for the whole text.
/// Written by hand: Microsoft.ML.Tokenizers' CompositePreTokenizer only passes the text between one stage's
/// pieces on to the next stage, which is a different rule.
/// </summary>
internal sealed class SequencePreTokenizer : PreTokenizer
{
    private readonly IReadOnlyList<PreTokenizer> _stages;

    /// <summary>Applies <paramref name="stages"/> in order.</summary>
    public SequencePreTokenizer(IReadOnlyList<PreTokenizer> stages) => _stages = stages;

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text ?? string.Empty);

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString());

    private List<(int Offset, int Length)> Split(string text)
    {
        var deadline = EncodeDeadline.Start(text.Length);
        var pieces = new List<(int Offset, int Length)>();
        if (text.Length > 0) pieces.Add((0, text.Length));
        foreach (PreTokenizer stage in _stages)
        {
            var next = new List<(int Offset, int Length)>(pieces.Count * 2);
            foreach ((int offset, int length) in pieces)
            {
                string piece = text.Substring(offset, length);
                var split = stage is SplitPreTokenizer pattern ? pattern.Split(piece, deadline) : stage.PreTokenize(piece);
                foreach ((int subOffset, int subLength) in split)
                {
                    if (subLength > 0) next.Add((offset + subOffset, subLength));
                }
            }
            pieces = next;
        }
        return pieces;
    }
}
