using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML;
using MLNet.MoE.Tests.Tokenization;

namespace MLNet.MoE.Tests.Fuzzing;

/// <summary>Cases the loader fuzzing found, kept with the damage FsCheck printed for them.</summary>
public class LoaderFuzzRegressionTests
{
    /// <summary>"rope_theta = 1e-320: loaded, but the logits are not finite" (a subnormal base overflows the rotary frequencies).</summary>
    [Fact]
    public void ASubnormalRopeThetaIsRefused()
    {
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceCheckpoint.Load(TinyCheckpoints.With("rope_theta", JsonValue.Create(1e-320))));
        Assert.Contains("rope_theta", error.Message, StringComparison.Ordinal);
    }

    /// <summary>"routed_scaling_factor = 1e308: loaded, but the logits are not finite".</summary>
    [Fact]
    public void AnOverflowingRoutedScalingFactorIsRefused()
    {
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceCheckpoint.Load(TinyCheckpoints.With("routed_scaling_factor", JsonValue.Create(1e308))));
        Assert.Contains("routed_scaling_factor", error.Message, StringComparison.Ordinal);
    }

    /// <summary>"FileMutation { Kind = Flip, PositionPpm = 37800, Amount = 461468 }: the message holds binary data" (the JSON
    /// parser quoted the rest of the damaged file).</summary>
    [Fact]
    public void ADamagedTokenizerJsonIsRefusedWithAShortReadableMessage()
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory());
        File.WriteAllBytes(path, new FileMutation(MutationKind.Flip, 37800, 461468).Apply(File.ReadAllBytes(path)));
        var error = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.True(FuzzCase.Readable(error.Message), error.Message);
        Assert.True(error.Message.Length < 600, $"{error.Message.Length} characters");
        Assert.Contains("tokenizer.json", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A Split pattern that backtracks only on surrogate pairs. The finding's kind of text: runs of 12 emoji (24
    /// surrogates, hundreds of milliseconds of backtracking each) that fail, each followed by one emoji and "!" that matches.</summary>
    /// <summary>
    /// Catastrophic only on text outside the Basic Multilingual Plane: the class matches no BMP character. (The report's
    /// <c>(\p{Cs}+)+!</c> matched surrogate code units; patterns now match code points, and no code point is Cs.)
    /// </summary>
    private const string AstralOnlyPattern = @"([^\u0000-\uFFFF]+)+!";

    private static string AstralFindingText(int length) =>
        string.Concat(Enumerable.Repeat(string.Concat(Enumerable.Repeat("\U0001F600", 24)) + " \U0001F600!", length / 52 + 1))[..length];

    /// <summary>"a Split regex that is catastrophic only on astral-plane input ((\p{Cs}+)+!) passes the load-time probe (its
    /// probe texts hold no emoji)".</summary>
    [Fact]
    public void ASplitPatternThatBacktracksOnlyOnAstralTextIsRefusedAtLoad()
    {
        string path = TokenizerTestData.WriteSmallHuggingFaceJson(TestPaths.NewTempDirectory(), document =>
        {
            var steps = (object[])((Dictionary<string, object>)document["pre_tokenizer"]!)["pretokenizers"];
            ((Dictionary<string, object>)((Dictionary<string, object>)steps[0])["pattern"])["Regex"] = AstralOnlyPattern;
        });
        var error = Assert.Throws<InvalidDataException>(() => MoeTokenizer.FromHuggingFaceJson(path));
        Assert.Contains("pre_tokenizer.pretokenizers[0].pattern.Regex", error.Message, StringComparison.Ordinal);
        Assert.Contains("backtracks", error.Message, StringComparison.Ordinal);
    }

    /// <summary>"... and makes encoding take 44 s for 1,000 characters": every match stayed under the 2 s match limit. The
    /// matches of one encode are now bounded in total, naming the pre-tokenizer.</summary>
    [Fact]
    public void TheMatchesOfOneEncodeAreBoundedInTotal()
    {
        var split = new SplitPreTokenizer(new Regex(CodePointPattern.Translate(AstralOnlyPattern), RegexOptions.Compiled, PatternGuard.MatchTimeout), SplitBehavior.Isolated, invert: false, "the test's Split");
        string text = AstralFindingText(1000);
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<InvalidOperationException>(() => split.PreTokenize(text));
        clock.Stop();
        Assert.Contains("the test's Split", error.Message, StringComparison.Ordinal);
        TimeSpan bound = PatternGuard.EncodeTimeLimit(text.Length) + PatternGuard.MatchTimeout;
        Assert.True(clock.Elapsed < bound + TimeSpan.FromSeconds(2), $"{clock.Elapsed.TotalSeconds:N1} s, bound {bound.TotalSeconds:N1} s: {error.Message}");
    }
}

/// <summary>NaN or infinite weights are refused when a checkpoint is read, naming the tensor.</summary>
public class NonFiniteWeightTests
{
    [Fact]
    public void ASafetensorsWeightThatIsNaNIsRefusedNamingTheTensor()
    {
        string source = TestPaths.DataFile("hf-config-semantics", "deepseek-v3-tiny-defaults");
        string folder = TestPaths.NewTempDirectory();
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(folder, "config.json"));
        byte[] weights = File.ReadAllBytes(Path.Combine(source, "model.safetensors"));
        using (var file = SafeTensorsFile.Open(Path.Combine(source, "model.safetensors")))
        {
            var info = file.Tensors.Values.First(t => t.DType == "F32");
            int at = 8 + (int)BitConverter.ToUInt64(weights, 0) + (int)info.Begin;
            BitConverter.GetBytes(float.NaN).CopyTo(weights, at);
            File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), weights);
            var error = Assert.Throws<InvalidDataException>(() => HuggingFaceCheckpoint.Load(folder));
            Assert.Contains("NaN", error.Message, StringComparison.Ordinal);
        }
    }
}

/// <summary>ONNX files that ONNX Runtime accepts but whose bytes were damaged.</summary>
public class OnnxDamageRegressionTests
{
    /// <summary>"FileMutation { Kind = Flip, PositionPpm = 985826, Amount = 704445 }: refused with InvalidProtocolBufferException"
    /// (a string of the graph no longer valid UTF-8).</summary>
    [Fact]
    public void AFlipThatBreaksAProtobufStringIsRefusedAsDamage()
    {
        string folder = TestPaths.NewTempDirectory();
        foreach (string file in Directory.GetFiles(MLNet.MoE.Tests.Onnx.TrainedModel.Instance.Directory)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        string modelPath = Path.Combine(folder, "model.onnx");
        File.WriteAllBytes(modelPath, new FileMutation(MutationKind.Flip, 985826, 704445).Apply(File.ReadAllBytes(modelPath)));
        var error = Assert.Throws<InvalidDataException>(() => new Microsoft.ML.MLContext(seed: 1).MoeOnnx().LoadLanguageModel(folder, tokenColumnName: "Text"));
        Assert.True(FuzzCase.Readable(error.Message), error.Message);
    }
}
