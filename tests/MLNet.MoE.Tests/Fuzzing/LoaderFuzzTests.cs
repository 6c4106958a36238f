using System.Diagnostics;
using System.IO.Compression;
using FsCheck.Xunit;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Tests.Onnx;
using MLNet.MoE.Tests.Tokenization;
using TorchSharp;
using Xunit.Abstractions;

namespace MLNet.MoE.Tests.Fuzzing;

/// <summary>
/// Property-based fuzzing of every loader over real saved files, damaged by FsCheck-generated mutations: each case
/// must end in a clean refusal (a documented exception kind with a readable message) within the time and memory
/// bounds of <see cref="FuzzCase"/>, or load into a model that scores exactly as the undamaged file does (where the
/// format carries checksums) or at least runs (Hugging Face files, which carry none). Each property replays a fixed seed,
/// so the suite is repeatable; change the seed (or drop <c>Replay</c>) to explore new cases. A failing case is printed by
/// FsCheck with its mutation; such cases are kept as regression tests in <see cref="LoaderFuzzRegressionTests"/> and
/// <see cref="ClassifierZipRegressionTests"/>. The classifier's zip is fuzzed like the language model's: damage to the
/// whole file, and CRC-valid rewrites of each of its entries (settings, config, tokenizer, weights); tokenizer.json edits
/// aimed at surrogate pairs are run on emoji, ZWJ sequences, flags, skin tones and CJK extension B.
/// </summary>
[Collection(FuzzCollection.Name)]
public sealed class LoaderFuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly SortedDictionary<string, int> outcomes = new(StringComparer.Ordinal);

    private void Count(string outcome) => outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

    /// <summary>Prints how the generated cases ended (visible with --logger "console;verbosity=detailed").</summary>
    public void Dispose() => output.WriteLine(string.Join(", ", outcomes.Select(o => $"{o.Key}: {o.Value}")));

    private static readonly Lazy<SavedZip> Zip = new(SavedZip.Create);
    private static readonly Lazy<(string Folder, float[] Scores)> Onnx = new(OnnxReference);

    private sealed record SavedZip(byte[] Bytes, string[] DataEntries, float[] Scores)
    {
        public static SavedZip Create()
        {
            var ml = new MLContext(seed: 1);
            string path = Path.Combine(TestPaths.NewTempDirectory(), "model.zip");
            // The whole pipeline a user saves: tokenizing transformer, then the language model.
            var data = TrainedModel.Instance.Data;
            var tokenize = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text").Fit(data);
            ml.Model.Save(new TransformerChain<ITransformer>(tokenize, TrainedModel.Instance.Transformer), data.Schema, path);
            byte[] bytes = File.ReadAllBytes(path);
            using var zip = new ZipArchive(new MemoryStream(bytes), ZipArchiveMode.Read);
            // The language model's entries that carry a SHA-256 (weights, tokenizer, config): a valid zip whose entry
            // bytes were rewritten must still be refused there.
            string[] entries = zip.Entries.Select(e => e.FullName).Where(n => n.EndsWith("/Weights.bin", StringComparison.Ordinal)
                || (n.EndsWith("/Tokenizer.bin", StringComparison.Ordinal) || n.EndsWith("/Config.json", StringComparison.Ordinal))
                   && zip.GetEntry(n[..n.LastIndexOf('/')] + "/Weights.bin") != null).ToArray();
            Assert.Equal(3, entries.Length);
            return new SavedZip(bytes, entries, LoaderFuzzTests.Scores(ml, ml.Model.Load(path, out _)));
        }
    }

    private static float[] Scores(MLContext ml, ITransformer model)
    {
        var scored = model.Transform(TrainedModel.Instance.Data);
        return scored.GetColumn<float>("Score").Take(12).ToArray();
    }

    private static (string, float[]) OnnxReference()
    {
        string folder = TrainedModel.Instance.Directory;
        using var model = new MLContext(seed: 1).MoeOnnx().LoadLanguageModel(folder, tokenColumnName: "Text");
        return (folder, Scores(new MLContext(seed: 1), model));
    }

    private static string NewFile(string name, byte[] bytes)
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Property(MaxTest = 200, Replay = "20261131,3", Arbitrary = [typeof(FuzzArbitraries)])]
    public void ModelZipDamageIsRefusedOrScoresTheSame(ZipMutation mutation)
    {
        var saved = Zip.Value;
        byte[] bytes;
        if (mutation.InsideEntry)
        {
            using var copy = new MemoryStream();
            copy.Write(saved.Bytes);
            using (var zip = new ZipArchive(copy, ZipArchiveMode.Update, leaveOpen: true))
            {
                string name = saved.DataEntries[mutation.EntryIndex % saved.DataEntries.Length];
                ZipEntries.Rewrite(zip, e => e.FullName == name, content => mutation.Damage.Apply(content));
            }
            bytes = copy.ToArray();
        }
        else
        {
            bytes = mutation.Damage.Apply(saved.Bytes);
        }
        if (bytes.AsSpan().SequenceEqual(saved.Bytes)) return;
        string path = NewFile("model.zip", bytes);
        var ml = new MLContext(seed: 1);
        float[]? scores = FuzzCase.Run(mutation.ToString(), () =>
        {
            var model = ml.Model.Load(path, out _);
            try
            {
                return Scores(ml, model);
            }
            finally
            {
                (model as IDisposable)?.Dispose();
            }
        }, Count);
        if (scores != null) Assert.Equal(saved.Scores, scores);
    }

    [Property(MaxTest = 300, Replay = "20261132,5", Arbitrary = [typeof(FuzzArbitraries)])]
    public void HuggingFaceConfigEditsAreRefusedOrRunFinite(ConfigEdits edits)
    {
        string source = TestPaths.DataFile("hf-config-semantics", "deepseek-v3-tiny-defaults");
        string folder = TestPaths.NewTempDirectory();
        File.Copy(Path.Combine(source, "model.safetensors"), Path.Combine(folder, "model.safetensors"));
        File.WriteAllText(Path.Combine(folder, "config.json"), JsonEdits.Apply(File.ReadAllText(Path.Combine(source, "config.json")), edits.Edits));
        RunCheckpoint(edits.ToString(), folder);
    }

    [Property(MaxTest = 200, Replay = "20261133,7", Arbitrary = [typeof(FuzzArbitraries)])]
    public void DamagedSafetensorsAreRefusedOrRunFinite(FileMutation mutation)
    {
        string source = TestPaths.DataFile("hf-config-semantics", "deepseek-v3-tiny-defaults");
        string folder = TestPaths.NewTempDirectory();
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(folder, "config.json"));
        byte[] weights = File.ReadAllBytes(Path.Combine(source, "model.safetensors"));
        // Half the cases land in the 8-byte length and the JSON header, where a damage changes names, shapes and offsets.
        int headerLength = 8 + (int)BitConverter.ToUInt64(weights, 0);
        byte[] damaged = mutation.PositionPpm % 2 == 0 ? mutation.Apply(weights, 0, headerLength) : mutation.Apply(weights);
        File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), damaged);
        // Safetensors carry no checksum: damaged values that stay finite load (a huge weight may then overflow the logits).
        RunCheckpoint(mutation.ToString(), folder, requireFiniteLogits: false);
    }

    private void RunCheckpoint(string description, string folder, bool requireFiniteLogits = true)
    {
        float[]? logits = FuzzCase.Run(description, () =>
        {
            using var model = HuggingFaceCheckpoint.Load(folder);
            model.eval();
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            var ids = torch.tensor(new long[] { 1, 2, 3, 4 }, new long[] { 1, 4 });
            return model.Forward(ids, new ForwardContext()).contiguous().data<float>().ToArray();
        }, Count);
        if (logits != null && requireFiniteLogits) Assert.True(logits.All(float.IsFinite), $"{description}: loaded, but the logits are not finite.");
    }

    [Property(MaxTest = 300, Replay = "20261134,9", Arbitrary = [typeof(FuzzArbitraries)])]
    public void TokenizerJsonEditsAreRefusedOrEncodeWithinTheVocabulary(TokenizerEdits edits)
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory());
        File.WriteAllText(path, JsonEdits.Apply(File.ReadAllText(path), edits.Edits));
        RunTokenizer(edits.ToString(), path);
    }

    [Property(MaxTest = 200, Replay = "20261135,11", Arbitrary = [typeof(FuzzArbitraries)])]
    public void DamagedTokenizerJsonIsRefusedOrEncodesWithinTheVocabulary(FileMutation mutation)
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory());
        File.WriteAllBytes(path, mutation.Apply(File.ReadAllBytes(path)));
        RunTokenizer(mutation.ToString(), path);
    }

    /// <summary>
    /// Loads the tokenizer.json at <paramref name="path"/> and encodes and decodes <paramref name="texts"/> (default: plain
    /// samples); every encode must end within its pattern time bound. With <paramref name="eachTextOnItsOwn"/>, an encode
    /// refused for its pattern's time (an <see cref="InvalidOperationException"/>) is counted and the next text still runs,
    /// so one refused text does not hide a slow one after it.
    /// </summary>
    private void RunTokenizer(string description, string path, IEnumerable<string>? texts = null, bool eachTextOnItsOwn = false)
    {
        FuzzCase.Run(description, () =>
        {
            var tokenizer = MoeTokenizer.FromHuggingFaceJson(path);
            foreach (string text in texts ?? TokenizerTestData.Samples.Append(new string('a', 3000) + "!").Append(TokenizerTestData.KjvParagraph()))
            {
                // An encode ends (with ids or an exception) within the pattern bound of its text, plus one match and a margin for a busy machine.
                TimeSpan bound = PatternGuard.EncodeTimeLimit(text.Length) + PatternGuard.MatchTimeout + TimeSpan.FromSeconds(5);
                var clock = Stopwatch.StartNew();
                int[] ids;
                try
                {
                    ids = tokenizer.Encode(text);
                }
                catch (InvalidOperationException refused) when (eachTextOnItsOwn)
                {
                    Assert.True(FuzzCase.Readable(refused.Message), $"{description}: the message holds binary data: {refused.Message}");
                    Count("encode refused (InvalidOperationException)");
                    continue;
                }
                finally
                {
                    Assert.True(clock.Elapsed <= bound, $"{description}: encoding {text.Length:N0} characters took {clock.Elapsed.TotalSeconds:N1} s, past its bound of {bound.TotalSeconds:N1} s.");
                }
                Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.VocabularySize - 1));
                _ = tokenizer.Decode(ids);
            }
            return tokenizer;
        }, Count);
    }

    /// <summary>Texts made of characters outside the Basic Multilingual Plane (surrogate pairs in .NET strings).</summary>
    private static readonly string[] AstralTexts =
    [
        "Emoji: 😀🎉👍🏽 👨‍👩‍👧 and 🇫🇷",
        string.Concat(Enumerable.Repeat("😀", 1500)) + "!",
        string.Concat(Enumerable.Repeat("👨‍👩‍👧‍👦", 150)) + "\u0000",
        string.Concat(Enumerable.Repeat("🇫🇷🇩🇪🇯🇵🇺🇳", 100)),
        string.Concat(Enumerable.Repeat("👍🏻👍🏼👍🏽👍🏾👍🏿 ", 60)),
        string.Concat(Enumerable.Repeat("𠀀𠀁𠀂𪜀 a𠀀1 ", 150)),
        string.Concat(Enumerable.Repeat(string.Concat(Enumerable.Repeat("😀", 12)) + " 😀!", 36)),
    ];

    [Property(MaxTest = 200, Replay = "20261137,15", Arbitrary = [typeof(FuzzArbitraries)])]
    public void AstralTextIsRefusedOrEncodedWithinTheVocabularyByEditedTokenizerJson(AstralTokenizerEdits edits)
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory());
        File.WriteAllText(path, JsonEdits.Apply(File.ReadAllText(path), edits.Edits));
        RunTokenizer(edits.ToString(), path, AstralTexts, eachTextOnItsOwn: true);
    }

    [Property(MaxTest = 150, Replay = "20261138,17", Arbitrary = [typeof(FuzzArbitraries)])]
    public void ClassifierZipDamageIsRefusedOrScoresTheSame(ZipMutation mutation)
    {
        var saved = SavedClassifier.Instance;
        byte[] bytes;
        if (mutation.InsideEntry)
        {
            using var copy = new MemoryStream();
            copy.Write(saved.Bytes);
            using (var zip = new ZipArchive(copy, ZipArchiveMode.Update, leaveOpen: true))
            {
                string name = saved.Entries[mutation.EntryIndex % saved.Entries.Length];
                ZipEntries.Rewrite(zip, e => e.FullName == name, content => mutation.Damage.Apply(content));
            }
            bytes = copy.ToArray();
        }
        else
        {
            bytes = mutation.Damage.Apply(saved.Bytes);
        }
        if (bytes.AsSpan().SequenceEqual(saved.Bytes)) return;
        string path = NewFile("classifier.zip", bytes);
        float[]? scores = FuzzCase.Run(mutation.ToString(), () => saved.Score(new MLContext(seed: 1), path), Count);
        if (scores != null) Assert.Equal(saved.Scores, scores);
    }

    /// <summary>Config fields of the classifier's backbone edited inside a valid zip (its CRC-32 rewritten): refused, or the same probabilities.</summary>
    [Property(MaxTest = 100, Replay = "20261139,19", Arbitrary = [typeof(FuzzArbitraries)])]
    public void ClassifierConfigEditsAreRefusedOrScoreTheSame(ConfigEdits edits)
    {
        var saved = SavedClassifier.Instance;
        string path = saved.WriteWith("Config.json", block =>
        {
            byte[] json = JsonEdits.ApplyUtf8(block[4..], edits.Edits);
            return [.. BitConverter.GetBytes(json.Length), .. json];
        });
        float[]? scores = FuzzCase.Run(edits.ToString(), () => saved.Score(new MLContext(seed: 1), path), Count);
        if (scores != null) Assert.Equal(saved.Scores, scores);
    }

    [Property(MaxTest = 100, Replay = "20261136,13", Arbitrary = [typeof(FuzzArbitraries)])]
    public void DamagedOnnxModelsAreRefusedOrScoreTheSame(FileMutation mutation)
    {
        var (source, reference) = Onnx.Value;
        string folder = TestPaths.NewTempDirectory();
        foreach (string file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        string modelPath = Path.Combine(folder, "model.onnx");
        File.WriteAllBytes(modelPath, mutation.Apply(File.ReadAllBytes(modelPath)));
        var ml = new MLContext(seed: 1);
        float[]? scores = FuzzCase.Run(mutation.ToString(), () =>
        {
            using var model = ml.MoeOnnx().LoadLanguageModel(folder, tokenColumnName: "Text");
            return Scores(ml, model);
        }, Count);
        if (scores != null) Assert.Equal(reference, scores);
    }
}
