using System.Buffers.Binary;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Tests.Pipeline;
using TorchSharp;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>The token store: chunked, checksummed token files written from a text or token column, resumed after a kill, and mapped for training.</summary>
public class TokenStoreTests
{
    private static readonly string[] DataFiles = ["train.bin", "validation.bin", "train.idx", "validation.idx", "tokens.json"];

    private static (MLContext Ml, IDataView Text, List<PipelineTestData.TextRow> Rows) Verses(int count = 120)
    {
        var ml = new MLContext(seed: 1);
        var rows = PipelineTestData.Verses(count);
        rows.Insert(5, new PipelineTestData.TextRow { Text = "" }); // an empty row is skipped, as the trainer skips it
        return (ml, ml.Data.LoadFromEnumerable(rows), rows);
    }

    private static TokenExportOptions TextOptions(MoeTokenizer tokenizer, int workers = 2) => new()
    {
        TextColumnName = "Text", Tokenizer = tokenizer, Workers = workers, ChunkCharacters = 700, ValidationFraction = 0.1, Seed = 3,
    };

    private static long[] Index(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        return Enumerable.Range(0, bytes.Length / 8).Select(i => BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8 * i))).ToArray();
    }

    [Fact]
    public void TextTokenizedOnWorkersIsStoredAsTheTrainerPacksItWithExactDocumentBoundaries()
    {
        var tokenizer = MoeTokenizer.ByteLevel();
        var (ml, text, rows) = Verses();
        using var fromText = new TempFolder();
        using var fromTokens = new TempFolder();

        var info = ml.MoE().ExportTokens(text, fromText.Path, TextOptions(tokenizer));
        var tokens = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Fit(text).Transform(text);
        var tokenInfo = ml.MoE().ExportTokens(tokens, fromTokens.Path, new TokenExportOptions { ValidationFraction = 0.1, Seed = 3, ChunkCharacters = 700 });

        var documents = rows.Where(r => r.Text.Length > 0).Select(r => tokenizer.Encode(r.Text)).ToList();
        var expected = TokenCorpus.Pack(documents, tokenizer.EndOfTextId, 0.1, 3);
        Assert.True(info.Validation.Documents > 0 && info.Train.Documents > 0);
        Assert.Equal(expected.TrainingDocuments, info.Train.Documents);
        Assert.Equal(expected.ValidationDocuments, info.Validation.Documents);
        Assert.Equal(expected.Training, ml.MoE().ReadTokens(fromText.Path).Tokens);
        Assert.Equal(expected.Validation, ml.MoE().ReadTokens(fromText.Path, validation: true).Tokens);
        // The token column path writes the same ids; only the column name recorded differs.
        Assert.Equal(File.ReadAllBytes(Path.Combine(fromText.Path, "train.bin")), File.ReadAllBytes(Path.Combine(fromTokens.Path, "train.bin")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(fromText.Path, "validation.idx")), File.ReadAllBytes(Path.Combine(fromTokens.Path, "validation.idx")));
        Assert.Equal(info.Identity, tokenInfo.Identity);
        Assert.Equal(2, info.Version);

        // Document boundaries: each index entry is the position of the end-of-text id before one document, in input order.
        var isValidation = Enumerable.Range(0, documents.Count).Select(i => TokenSplitRule.IsValidation(i, 0.1, 3)).ToArray();
        var trainDocs = documents.Where((_, i) => !isValidation[i]).ToList();
        var validationDocs = documents.Where((_, i) => isValidation[i]).ToList();
        Assert.Equal(validationDocs.Count, info.Validation.Documents);
        long[] trainStarts = Index(Path.Combine(fromText.Path, "train.idx"));
        long[] validationStarts = Index(Path.Combine(fromText.Path, "validation.idx"));
        Assert.Equal(trainDocs.Count, trainStarts.Length);
        for (int d = 0; d < trainDocs.Count; d++)
        {
            Assert.Equal(tokenizer.EndOfTextId, expected.Training[trainStarts[d]]);
            Assert.Equal(trainDocs[d], expected.Training.AsSpan((int)trainStarts[d] + 1, trainDocs[d].Length).ToArray());
        }
        for (int d = 0; d < validationDocs.Count; d++)
            Assert.Equal(validationDocs[d], expected.Validation.AsSpan((int)validationStarts[d] + 1, validationDocs[d].Length).ToArray());

        // The store as an IDataView: one row per training document, the tokenizer on its column.
        using var store = ml.MoE().LoadTokens(fromText.Path);
        var read = store.GetColumn<int[]>(store.Schema["Tokens"]).ToList();
        Assert.Equal(trainDocs, read);
        Assert.Equal(trainDocs.Count, store.GetRowCount());
        Assert.Equal(tokenizer.Name, TokenizerAnnotation.TryGet(store.Schema["Tokens"])!.Name);
        Assert.DoesNotContain(Directory.EnumerateFiles(fromText.Path), f => f.EndsWith(".tmp", StringComparison.Ordinal) || f.Contains("journal", StringComparison.Ordinal) || f.Contains("partial", StringComparison.Ordinal));
    }

    [Fact]
    public void TheFilesDoNotDependOnTheNumberOfWorkers()
    {
        var tokenizer = MoeTokenizer.Gpt2();
        var (ml, text, _) = Verses(80);
        using var one = new TempFolder();
        using var three = new TempFolder();

        var a = ml.MoE().ExportTokens(text, one.Path, TextOptions(tokenizer, workers: 1));
        var b = ml.MoE().ExportTokens(text, three.Path, TextOptions(tokenizer, workers: 3));

        Assert.Equal(a, b);
        foreach (string file in DataFiles) Assert.Equal(File.ReadAllBytes(Path.Combine(one.Path, file)), File.ReadAllBytes(Path.Combine(three.Path, file)));
    }

    [Fact]
    public void AnExportKilledMidwayResumesToTheBytesOfAnUninterruptedOneWithoutTokenizingCommittedChunksAgain()
    {
        var tokenizer = MoeTokenizer.ByteLevel();
        var (ml, text, _) = Verses();
        using var whole = new TempFolder();
        using var killed = new TempFolder();
        var wholeReports = new List<TokenExportProgress>();
        var options = TextOptions(tokenizer);
        options.Progress = new SynchronousProgress<TokenExportProgress>(wholeReports.Add);
        var uninterrupted = ml.MoE().ExportTokens(text, whole.Path, options);
        int chunks = wholeReports[^1].Chunks;
        Assert.True(chunks >= 6, $"{chunks} chunks");

        // The kill: chunk k's bytes are on disk, its commit record is not; a torn record and stray bytes follow.
        int k = chunks / 2;
        var kill = Assert.Throws<IOException>(() => TokenExport.Export(ml, text, killed.Path, TextOptions(tokenizer), chunk =>
        {
            if (chunk == k) throw new IOException("killed");
        }));
        Assert.Equal("killed", kill.Message);
        Assert.DoesNotContain("tokens.json", killed.FileNames());
        File.AppendAllText(Path.Combine(killed.Path, TokenStoreWriter.JournalFileName), "torn");
        File.AppendAllText(Path.Combine(killed.Path, "train.bin"), "stray bytes");

        var resumedReports = new List<TokenExportProgress>();
        var resumedOptions = TextOptions(tokenizer, workers: 1);
        resumedOptions.Progress = new SynchronousProgress<TokenExportProgress>(resumedReports.Add);
        var resumed = ml.MoE().ExportTokens(text, killed.Path, resumedOptions);

        Assert.Equal(uninterrupted, resumed);
        foreach (string file in DataFiles) Assert.Equal(File.ReadAllBytes(Path.Combine(whole.Path, file)), File.ReadAllBytes(Path.Combine(killed.Path, file)));
        // The resumed run tokenized only the chunks from k on.
        Assert.True(resumedReports[^1].Megabytes < wholeReports[^1].Megabytes * (chunks - k + 1) / chunks, $"{resumedReports[^1].Megabytes} of {wholeReports[^1].Megabytes} MB");
        Assert.Equal(wholeReports[^1].Rows, resumedReports[^1].Rows);
    }

    [Fact]
    public void AnUnfinishedExportWithOtherSettingsIsNotResumed()
    {
        var tokenizer = MoeTokenizer.ByteLevel();
        var (ml, text, _) = Verses(60);
        using var folder = new TempFolder();
        Assert.Throws<IOException>(() => TokenExport.Export(ml, text, folder.Path, TextOptions(tokenizer), chunk =>
        {
            if (chunk == 2) throw new IOException("killed");
        }));

        var other = TextOptions(tokenizer);
        other.Seed = 4;
        var refused = Assert.Throws<InvalidOperationException>(() => ml.MoE().ExportTokens(text, folder.Path, other));
        Assert.Contains("Seed 3 there, 4 now", refused.Message);
        Assert.Contains("Resume = false", refused.Message);

        other.Resume = false;
        var fresh = ml.MoE().ExportTokens(text, folder.Path, other);
        Assert.Equal(4, fresh.Seed);
    }

    [Fact]
    public void ADamagedStoreIsRefusedNamingTheFile()
    {
        var (ml, text, _) = Verses(60);
        using var folder = new TempFolder();
        ml.MoE().ExportTokens(text, folder.Path, TextOptions(MoeTokenizer.ByteLevel()));
        string train = Path.Combine(folder.Path, "train.bin");
        byte[] original = File.ReadAllBytes(train);

        byte[] flipped = (byte[])original.Clone();
        flipped[original.Length / 2] ^= 0x01;
        File.WriteAllBytes(train, flipped);
        var damaged = Assert.Throws<InvalidDataException>(() => ml.MoE().LoadTokens(folder.Path));
        Assert.Contains(train, damaged.Message);
        Assert.Contains("checksum", damaged.Message);
        File.WriteAllBytes(train, original);

        string index = Path.Combine(folder.Path, "validation.idx");
        byte[] indexBytes = File.ReadAllBytes(index);
        File.WriteAllBytes(index, indexBytes[..^8]);
        Assert.Contains(index, Assert.Throws<InvalidDataException>(() => ml.MoE().LoadTokens(folder.Path)).Message);
        File.WriteAllBytes(index, indexBytes);

        string header = Path.Combine(folder.Path, "tokens.json");
        var json = JsonNode.Parse(File.ReadAllText(header))!.AsObject();
        json["splits"]!["train"]!["documents"] = json["splits"]!["train"]!["documents"]!.GetValue<long>() - 1;
        File.WriteAllText(header, json.ToJsonString());
        Assert.Contains(header, Assert.Throws<InvalidDataException>(() => ml.MoE().LoadTokens(folder.Path)).Message);
    }

    [Fact]
    public void WindowsSampledFromTheMapEqualThoseOfTheInMemoryStreamAndTrainingGivesTheSameLosses()
    {
        var tokenizer = MoeTokenizer.ByteLevel();
        var (ml, text, rows) = Verses();
        using var folder = new TempFolder();
        ml.MoE().ExportTokens(text, folder.Path, TextOptions(tokenizer));
        var documents = rows.Where(r => r.Text.Length > 0).Select(r => tokenizer.Encode(r.Text)).ToList();
        var corpus = TokenCorpus.Pack(documents, tokenizer.EndOfTextId, 0.1, 3);
        using var store = ml.MoE().LoadTokens(folder.Path);

        var inMemory = new WindowSampler(new ArrayTokenStream(corpus.Training), 32, seed: 11);
        var mapped = new WindowSampler(store.Training, 32, seed: 11);
        for (int batch = 0; batch < 20; batch++)
        {
            using var scope = torch.NewDisposeScope();
            var (a, aTargets) = inMemory.Next(8, torch.CPU);
            var (b, bTargets) = mapped.Next(8, torch.CPU);
            Assert.Equal(a.data<long>().ToArray(), b.data<long>().ToArray());
            Assert.Equal(aTargets.data<long>().ToArray(), bTargets.data<long>().ToArray());
        }
        Assert.Equal(corpus.Validation, store.Validation.ToArray());

        // The trainer: Fit on the rows (split in memory) and Fit on the store train the same steps on the same windows.
        var options = PipelineTestData.Options(steps: 4);
        options.PromptColumnName = null;
        var tokens = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Fit(text).Transform(text);
        var fromRows = ml.MoE().Trainers.LanguageModel(options).Fit(tokens).TrainingSummary!;
        var fromStore = ml.MoE().Trainers.LanguageModel(options).Fit(store).TrainingSummary!;
        Assert.Equal(fromRows.History.Select(h => h.Loss), fromStore.History.Select(h => h.Loss));
        Assert.Equal(fromRows.ValidationLoss, fromStore.ValidationLoss);
        Assert.Equal(corpus.Training.Length, fromStore.TrainingStreamTokens);
    }

    [Fact]
    public void ACheckpointIsNotResumedOnAnotherStore()
    {
        var (ml, text, _) = Verses(60);
        using var first = new TempFolder();
        using var second = new TempFolder();
        using var checkpoints = new TempFolder();
        ml.MoE().ExportTokens(text, first.Path, TextOptions(MoeTokenizer.ByteLevel()));
        var other = TextOptions(MoeTokenizer.ByteLevel());
        other.Seed = 9;
        ml.MoE().ExportTokens(text, second.Path, other);
        var options = PipelineTestData.Options(steps: 2);
        options.PromptColumnName = null;
        options.CheckpointDirectory = checkpoints.Path;
        options.CheckpointEverySteps = 1;
        using (var store = ml.MoE().LoadTokens(first.Path)) ml.MoE().Trainers.LanguageModel(options).Fit(store);

        options.CheckpointDirectory = null;
        options.MaxSteps = 3;
        options.ResumeFrom = checkpoints.Path;
        using var otherStore = ml.MoE().LoadTokens(second.Path);
        var refused = Assert.Throws<InvalidOperationException>(() => ml.MoE().Trainers.LanguageModel(options).Fit(otherStore));
        Assert.Contains("token store", refused.Message);
        using var sameStore = ml.MoE().LoadTokens(first.Path);
        Assert.Equal(3, ml.MoE().Trainers.LanguageModel(options).Fit(sameStore).TrainingSummary!.Steps);
    }

    [Fact]
    public void AStoreOfMoreThanTwoToThe31TokensIsMappedSampledAndTrainedOn()
    {
        // A sparse train.bin of 2^32 + 4,096 uint16 ids (8 GiB on paper, a few pages on disk): zeros but for a marked tail.
        var tokenizer = MoeTokenizer.ByteLevel();
        using var folder = new TempFolder();
        long tokens = (1L << 32) + 4096;
        using (var train = new FileStream(Path.Combine(folder.Path, "train.bin"), FileMode.CreateNew))
        {
            train.SetLength(tokens * 2);
            train.Position = (tokens - 3) * 2;
            train.Write([7, 0, 8, 0, 9, 0]);
        }
        File.WriteAllBytes(Path.Combine(folder.Path, "train.idx"), new byte[8]);
        File.WriteAllBytes(Path.Combine(folder.Path, "validation.bin"), []);
        File.WriteAllBytes(Path.Combine(folder.Path, "validation.idx"), []);
        var chunk = new TokenFileChunk(1, tokens, 1, 0, 0, Checksum: 0);
        var info = new TokenFileInfo
        {
            Format = TokenFile.FormatName, Version = TokenFile.CurrentVersion, DType = "uint16", VocabSize = tokenizer.VocabularySize, EndOfTextId = tokenizer.EndOfTextId,
            Tokenizer = tokenizer.Name, Train = new TokenFileSplit("train.bin", tokens, 1) { IndexFile = "train.idx" },
            Validation = new TokenFileSplit("validation.bin", 0, 0) { IndexFile = "validation.idx" }, ValidationFraction = 0, Seed = 1, SourceColumn = "Text",
        };
        info = info with { Identity = TokenFile.Identity(info, [chunk]) };
        File.WriteAllText(Path.Combine(folder.Path, "tokens.json"), TokenFile.ToJson(info, [chunk]));
        TokenizerFiles.Save(folder.Path, tokenizer, int.MaxValue);
        var ml = new MLContext(seed: 1);

        using var store = ml.MoE().LoadTokens(folder.Path, verifyChecksums: false);

        Assert.Equal(tokens, store.Training.Length);
        var tail = new int[3];
        store.Training.Read(tokens - 3, tail);
        Assert.Equal([7, 8, 9], tail);
        var random = new DeterministicRandom(5);
        Assert.Contains(Enumerable.Range(0, 64).Select(_ => random.Next(tokens)), offset => offset > int.MaxValue);
        var options = PipelineTestData.Options(steps: 1);
        options.PromptColumnName = null;
        var summary = ml.MoE().Trainers.LanguageModel(options).Fit(store).TrainingSummary!;
        Assert.Equal(tokens, summary.TrainingStreamTokens);
        Assert.True(double.IsFinite(summary.FinalTrainingLoss));
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
