using MLNet.MoE;

/// <summary>
/// A token store of a given length whose training file is sparse (holes read as id 0), for showing that a store of
/// more than 2^31 tokens is mapped and trained on without filling a disk. Its chunk checksum is not computed, so open
/// it with <c>verifyChecksums: false</c>.
/// </summary>
internal static class SparseStore
{
    public static void Write(string directory, long tokens, MoeTokenizer tokenizer)
    {
        Directory.CreateDirectory(directory);
        var info = new TokenFileInfo
        {
            Format = TokenFile.FormatName, Version = TokenFile.CurrentVersion, DType = TokenFile.DTypeFor(tokenizer.VocabularySize),
            VocabSize = tokenizer.VocabularySize, EndOfTextId = tokenizer.EndOfTextId, Tokenizer = tokenizer.Name,
            Train = new TokenFileSplit(TokenFile.TrainFileName, tokens, 1) { IndexFile = TokenFile.TrainIndexFileName },
            Validation = new TokenFileSplit(TokenFile.ValidationFileName, 0, 0) { IndexFile = TokenFile.ValidationIndexFileName },
            ValidationFraction = 0, Seed = 1, SourceColumn = "Text",
        };
        using (var train = new FileStream(Path.Combine(directory, TokenFile.TrainFileName), FileMode.Create)) train.SetLength(tokens * info.BytesPerToken);
        File.WriteAllBytes(Path.Combine(directory, TokenFile.TrainIndexFileName), new byte[8]);
        File.WriteAllBytes(Path.Combine(directory, TokenFile.ValidationFileName), []);
        File.WriteAllBytes(Path.Combine(directory, TokenFile.ValidationIndexFileName), []);
        var chunk = new TokenFileChunk(1, tokens, 1, 0, 0, Checksum: 0);
        info = info with { Identity = TokenFile.Identity(info, [chunk]) };
        File.WriteAllText(Path.Combine(directory, TokenFile.HeaderFileName), TokenFile.ToJson(info, [chunk]));
        TokenizerFiles.Save(directory, tokenizer, int.MaxValue);
    }
}
