using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNet.MoE.Tests.Tokenization;

namespace MLNet.MoE.Tests.Fuzzing;

/// <summary>
/// Classifier model zips that loaded and then ran out of memory, or loaded with other probabilities, when the loader
/// fuzzing first covered them: edited settings in the classifier's header, an edited <c>Config.json</c> and a swapped
/// <c>Tokenizer.bin</c>, each with the zip's CRC-32 recomputed.
/// </summary>
public class ClassifierZipRegressionTests
{
    /// <summary>The classifier zip written before the digests existed (format 0x00010001), which must keep loading.</summary>
    private static string FormatOneZip => Path.Combine(TestPaths.RepositoryRoot, "tests", "MLNet.MoE.Tests", "Fixtures", "classifier-format-1", "classifier.zip");

    private const string FormatOneFolder = "TransformerChain/Transform_001/";

    /// <summary>Where the classifier's settings start in its <c>Model.key</c>: ML.NET's header records the offset at 0x10;
    /// four column-name string ids come first, then the maximum length, the class count, the pooling and the dropout rate.</summary>
    private static int SettingsOffset(byte[] header) => (int)BitConverter.ToInt64(header, 0x10) + 16;

    private static byte[] WithInt32(byte[] header, int offset, int value)
    {
        byte[] copy = (byte[])header.Clone();
        BitConverter.GetBytes(value).CopyTo(copy, SettingsOffset(copy) + offset);
        return copy;
    }

    private static byte[] WithConfigField(byte[] block, string field, JsonNode? value)
    {
        var config = JsonNode.Parse(Encoding.UTF8.GetString(block, 4, block.Length - 4))!.AsObject();
        config[field] = value;
        byte[] json = Encoding.UTF8.GetBytes(config.ToJsonString());
        return [.. BitConverter.GetBytes(json.Length), .. json];
    }

    private static string CopyOfFormatOne(string entry, Func<byte[], byte[]> change)
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "classifier.zip");
        File.Copy(FormatOneZip, path);
        ZipEntries.Rewrite(path, e => e.FullName == FormatOneFolder + entry, change);
        return path;
    }

    private static InvalidDataException LoadFails(string path) =>
        Assert.Throws<InvalidDataException>(() => new MLContext(seed: 1).MoE().LoadModel(path, out _));

    [Fact]
    public void TheSavedZipLoadsAndScoresAsSaved()
    {
        var saved = SavedClassifier.Instance;
        string path = saved.WriteWith("Model.key", bytes => bytes);
        Assert.Equal(saved.Scores, saved.Score(new MLContext(seed: 1), path));
    }

    /// <summary>"maxLength 2,147,483,647 in the header loads, then Predict throws OutOfMemoryException".</summary>
    [Fact]
    public void AMaximumLengthOfInt32MaxValueIsRefusedAtLoad()
    {
        string path = SavedClassifier.Instance.WriteWith("Model.key", header => WithInt32(header, 0, int.MaxValue));
        var error = LoadFails(path);
        Assert.Contains("maximum length (2147483647)", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The same edit in a zip of the first format (no digests), and a maximum length above max_position_embeddings there.</summary>
    [Theory]
    [InlineData(int.MaxValue, "maximum length (2147483647)")]
    [InlineData(4096, "max_position_embeddings (128)")]
    public void AMaximumLengthBeyondTheBackboneIsRefusedInAZipWithoutDigests(int maxLength, string expected)
    {
        var error = LoadFails(CopyOfFormatOne("Model.key", header => WithInt32(header, 0, maxLength)));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>"a max_position_embeddings below maxLength loads".</summary>
    [Fact]
    public void AMaxPositionEmbeddingsBelowTheMaximumLengthIsRefusedInAZipWithoutDigests()
    {
        var error = LoadFails(CopyOfFormatOne("Config.json", block => WithConfigField(block, "max_position_embeddings", 8)));
        Assert.Contains("max_position_embeddings (8)", error.Message, StringComparison.Ordinal);
        Assert.Contains("maximum length (96)", error.Message, StringComparison.Ordinal);
    }

    /// <summary>"dropout NaN passes dropout &lt; 0 || dropout &gt;= 1".</summary>
    [Fact]
    public void ANaNDropoutRateIsRefusedInAZipWithoutDigests()
    {
        var error = LoadFails(CopyOfFormatOne("Model.key", header =>
        {
            byte[] copy = (byte[])header.Clone();
            BitConverter.GetBytes(double.NaN).CopyTo(copy, SettingsOffset(copy) + 12);
            return copy;
        }));
        Assert.Contains("settings are invalid", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A maximum length far beyond any row no longer reserves its size for every row encoded.</summary>
    [Fact]
    public void EncodingARowReservesMemoryForTheRowNotForTheMaximumLength()
    {
        var tokenizer = MoeTokenizer.ByteLevel();
        int[] bounded = TextClassificationTokens.Encode(tokenizer, "Good case, excellent value.", null, 128);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int[] unbounded = TextClassificationTokens.Encode(tokenizer, "Good case, excellent value.", null, int.MaxValue);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(bounded, unbounded);
        Assert.True(allocated < 1 << 16, $"{allocated:N0} bytes allocated to encode a {bounded.Length}-token row.");
    }

    /// <summary>A setting of the current format edited inside a valid zip (a maximum length still in range) is refused by the settings' SHA-256.</summary>
    [Fact]
    public void AnEditedSettingIsRefusedByItsDigest()
    {
        string path = SavedClassifier.Instance.WriteWith("Model.key", header => WithInt32(header, 0, 40));
        var error = LoadFails(path);
        Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
        Assert.Contains("settings", error.Message, StringComparison.Ordinal);
    }

    /// <summary>"Config.json carries no digest: routed_scaling_factor, rms_norm_eps, norm_topk_prob, rope_interleave edited (CRC re-computed) load with changed probabilities".</summary>
    [Theory]
    [InlineData("routed_scaling_factor", "2.5")]
    [InlineData("rms_norm_eps", "0.001")]
    [InlineData("norm_topk_prob", "false")]
    [InlineData("rope_interleave", "false")]
    public void AnEditedConfigIsRefused(string field, string value)
    {
        string path = SavedClassifier.Instance.WriteWith("Config.json", block => WithConfigField(block, field, JsonNode.Parse(value)));
        var error = LoadFails(path);
        Assert.Contains("'Config.json'", error.Message, StringComparison.Ordinal);
        Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
    }

    /// <summary>"a swapped Tokenizer.bin loads and flips a label".</summary>
    [Fact]
    public void ASwappedTokenizerIsRefused()
    {
        byte[] other = MoeTokenizer.ByteLevel().Serialize();
        string path = SavedClassifier.Instance.WriteWith("Tokenizer.bin", _ => [.. BitConverter.GetBytes(other.Length), .. other]);
        var error = LoadFails(path);
        Assert.Contains("'Tokenizer.bin'", error.Message, StringComparison.Ordinal);
        Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
    }
}
