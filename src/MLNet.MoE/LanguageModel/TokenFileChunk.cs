namespace MLNet.MoE;

/// <summary>
/// One chunk of a token store: the ids, documents and index entries that the rows of one chunk of the input added to
/// the training and validation files, and the XXH3-64 checksum of those bytes (training ids, validation ids, training
/// index entries, validation index entries, in that order). Chunks are the unit a writer commits and a reader verifies.
/// </summary>
/// <param name="Rows">Input rows the chunk consumed, empty ones included.</param>
/// <param name="TrainTokens">Ids it appended to the training file.</param>
/// <param name="TrainDocuments">Documents it appended to the training file.</param>
/// <param name="ValidationTokens">Ids it appended to the validation file.</param>
/// <param name="ValidationDocuments">Documents it appended to the validation file.</param>
/// <param name="Checksum">XXH3-64 of its bytes.</param>
internal readonly record struct TokenFileChunk(long Rows, long TrainTokens, long TrainDocuments, long ValidationTokens, long ValidationDocuments, ulong Checksum);
