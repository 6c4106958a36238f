namespace MLNet.MoE;

/// <summary>One packed token stream of a token file folder: its binary file, its length in tokens and the documents in it.</summary>
/// <param name="File">The binary file's name, relative to the folder.</param>
/// <param name="Tokens">Token ids in the file.</param>
/// <param name="Documents">Documents packed into it (each preceded by the end-of-text token).</param>
public sealed record TokenFileSplit(string File, long Tokens, long Documents)
{
    /// <summary>
    /// The document index file's name (version 2): one little-endian int64 a document, the position in <see cref="File"/>
    /// of the end-of-text id that starts it; null in a version-1 folder.
    /// </summary>
    public string? IndexFile { get; init; }
}
