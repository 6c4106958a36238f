namespace MLNet.MoE;

/// <summary>What a Hugging Face "Split" pre-tokenizer does with the pieces its pattern matches (HF's SplitDelimiterBehavior).</summary>
internal enum SplitBehavior
{
    /// <summary>Matches are dropped.</summary>
    Removed,

    /// <summary>Matches and the text between them are separate pieces.</summary>
    Isolated,

    /// <summary>Each match joins the piece before it.</summary>
    MergedWithPrevious,

    /// <summary>Each match joins the piece after it.</summary>
    MergedWithNext,

    /// <summary>Adjacent matches form one piece.</summary>
    Contiguous,
}
