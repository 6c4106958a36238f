using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNet.MoE.Tests.Pipeline;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>The token file export: the corpus as flat binary ids plus a JSON header, for training engines outside .NET.</summary>
public class TokenExportTests
{
    private static (MLContext Ml, IDataView Tokens, List<PipelineTestData.TextRow> Rows) Tokenized(MoeTokenizer tokenizer, int verses = 60)
    {
        var ml = new MLContext(seed: 1);
        var rows = PipelineTestData.Verses(verses);
        rows.Insert(3, new PipelineTestData.TextRow { Text = "" }); // an empty row is skipped, as the trainer skips it
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        return (ml, ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Fit(data).Transform(data), rows);
    }

    [Fact]
    public void ExportPacksTheDocumentsAsTheTrainerDoesAndReadsBackIdForId()
    {
        var tokenizer = MoeTokenizer.ByteLevel();
        var (ml, tokens, rows) = Tokenized(tokenizer);
        using var folder = new TempFolder();

        var info = ml.MoE().ExportTokens(tokens, folder.Path, new TokenExportOptions { ValidationFraction = 0.1, Seed = 5 });

        var documents = rows.Where(r => r.Text.Length > 0).Select(r => tokenizer.Encode(r.Text)).ToList();
        var expected = TokenCorpus.Pack(documents, tokenizer.EndOfTextId, 0.1, 5);
        var header = TokenFile.ReadHeader(folder.Path);
        Assert.Equal(info, header);
        Assert.Equal("uint16", header.DType);
        Assert.Equal(tokenizer.VocabularySize, header.VocabSize);
        Assert.Equal(tokenizer.EndOfTextId, header.EndOfTextId);
        Assert.Equal(expected.TrainingDocuments, header.Train.Documents);
        Assert.Equal(expected.ValidationDocuments, header.Validation.Documents);
        Assert.Equal(expected.Training, TokenFile.ReadSplit(folder.Path, header));
        Assert.Equal(expected.Validation, TokenFile.ReadSplit(folder.Path, header, validation: true));
        Assert.Equal(2L * expected.Training.Length, new FileInfo(Path.Combine(folder.Path, "train.bin")).Length);
        Assert.Equal("byte-level", TokenizerFiles.TryLoad(folder.Path)!.Name);
        Assert.DoesNotContain(Directory.EnumerateFiles(folder.Path), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public void VocabulariesOverSixtyFiveThousandIdsAreStoredAsUInt32()
    {
        var tokenizer = MoeTokenizer.Cl100kBase();
        var (ml, tokens, rows) = Tokenized(tokenizer, verses: 20);
        using var folder = new TempFolder();

        var info = ml.MoE().ExportTokens(tokens, folder.Path, new TokenExportOptions { ValidationFraction = 0 });

        Assert.Equal("uint32", info.DType);
        var expected = rows.Where(r => r.Text.Length > 0).SelectMany(r => new[] { tokenizer.EndOfTextId }.Concat(tokenizer.Encode(r.Text))).ToArray();
        Assert.Contains(expected, id => id > ushort.MaxValue); // the end-of-text id of cl100k_base is 100257
        Assert.Equal(expected, TokenFile.ReadSplit(folder.Path, info));
        Assert.Empty(TokenFile.ReadSplit(folder.Path, info, validation: true));
    }

    [Fact]
    public void BadExportInputIsRefusedNamingTheColumnOrOption()
    {
        var (ml, tokens, _) = Tokenized(MoeTokenizer.ByteLevel(), verses: 5);
        using var folder = new TempFolder();

        var missing = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MoE().ExportTokens(tokens, folder.Path, new TokenExportOptions { TokenColumnName = "Ids" }));
        Assert.Contains("Ids", missing.Message);
        var fraction = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MoE().ExportTokens(tokens, folder.Path, new TokenExportOptions { ValidationFraction = 0.9 }));
        Assert.Contains("ValidationFraction", fraction.Message);
        var empty = ml.Data.LoadFromEnumerable(new[] { new PipelineTestData.TextRow { Text = "" } });
        var emptyTokens = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Fit(empty).Transform(empty);
        var none = Assert.Throws<InvalidOperationException>(() => ml.MoE().ExportTokens(emptyTokens, folder.Path));
        Assert.Contains("Tokens", none.Message);
        Assert.Empty(folder.FileNames());
    }

    [Fact]
    public void DamagedTokenFilesAreRefusedNamingTheFile()
    {
        var (ml, tokens, _) = Tokenized(MoeTokenizer.ByteLevel(), verses: 20);
        using var folder = new TempFolder();
        var info = ml.MoE().ExportTokens(tokens, folder.Path);
        string header = Path.Combine(folder.Path, TokenFile.HeaderFileName);
        string train = Path.Combine(folder.Path, "train.bin");

        // Truncated data file.
        byte[] bytes = File.ReadAllBytes(train);
        File.WriteAllBytes(train, bytes[..^3]);
        var truncated = Assert.Throws<InvalidDataException>(() => TokenFile.ReadSplit(folder.Path, info));
        Assert.Contains("train.bin", truncated.Message);

        // An id outside the vocabulary.
        bytes[0] = 0xFF;
        bytes[1] = 0xFF;
        File.WriteAllBytes(train, bytes);
        var outside = Assert.Throws<InvalidDataException>(() => TokenFile.ReadSplit(folder.Path, info));
        Assert.Contains("65535", outside.Message);

        // A header that is not ours, one with a bad dtype, and none at all.
        var json = JsonNode.Parse(File.ReadAllText(header))!.AsObject();
        json["format"] = "something-else";
        File.WriteAllText(header, json.ToJsonString());
        Assert.Contains("format", Assert.Throws<InvalidDataException>(() => TokenFile.ReadHeader(folder.Path)).Message);
        json["format"] = TokenFile.FormatName;
        json["dtype"] = "int8";
        File.WriteAllText(header, json.ToJsonString());
        Assert.Contains("dtype", Assert.Throws<InvalidDataException>(() => TokenFile.ReadHeader(folder.Path)).Message);
        File.WriteAllText(header, "{ not json");
        Assert.Contains(TokenFile.HeaderFileName, Assert.Throws<InvalidDataException>(() => TokenFile.ReadHeader(folder.Path)).Message);
        File.Delete(header);
        Assert.Throws<FileNotFoundException>(() => TokenFile.ReadHeader(folder.Path));
    }

    [Fact]
    public void SaveHuggingFaceCarriesTheTokenizerSoLoadNeedsNone()
    {
        var ml = new MLContext(seed: 1);
        var rows = PipelineTestData.Verses(40);
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        var trained = PipelineTestData.Train(ml, data, PipelineTestData.Options(steps: 2)).LastTransformer;
        using var folder = new TempFolder();

        ml.MoE().SaveHuggingFace(trained, folder.Path);
        var loaded = ml.MoE().LoadHuggingFace(folder.Path, promptColumnName: "Text");

        Assert.Contains(TokenizerFiles.FileName, folder.FileNames());
        Assert.Contains(TokenizerFiles.HuggingFaceFileName, folder.FileNames());
        Assert.Contains(TokenizerFiles.HuggingFaceConfigFileName, folder.FileNames());
        Assert.Equal(trained.Tokenizer.Name, loaded.Tokenizer.Name);
        Assert.Equal(trained.Tokenizer.Encode(rows[0].Text), loaded.Tokenizer.Encode(rows[0].Text));
        // Without the serialized tokenizer, the Hugging Face tokenizer.json written beside it tokenizes the same.
        File.Delete(Path.Combine(folder.Path, TokenizerFiles.FileName));
        var fromJson = ml.MoE().LoadHuggingFace(folder.Path);
        Assert.StartsWith("hf:", fromJson.Tokenizer.Name, StringComparison.Ordinal);
        foreach (var row in rows.Take(10)) Assert.Equal(trained.Tokenizer.Encode(row.Text), fromJson.Tokenizer.Encode(row.Text));
        Assert.Equal(trained.Tokenizer.EndOfTextId, fromJson.Tokenizer.EndOfTextId);
        File.Delete(Path.Combine(folder.Path, TokenizerFiles.HuggingFaceFileName));
        var none = Assert.Throws<FileNotFoundException>(() => ml.MoE().LoadHuggingFace(folder.Path));
        Assert.Contains(folder.Path, none.Message);
    }
}
