using System.Text;
using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// The config and tokenizer entries a TorchSharp transformer saves in its model zip, read back and checked against the
/// SHA-256 its header recorded at save (none in older zips): the language model's and the text classifier's.
/// </summary>
internal static class SavedModelEntries
{
    /// <summary>The saved model config of entry <paramref name="entry"/>, refused when it is not the one saved.</summary>
    public static MoeModelConfig ReadConfig(byte[] bytes, byte[]? recordedDigest, string entry, string owner)
    {
        ModelStreams.RequireRecordedDigest(bytes, recordedDigest, entry, "config", owner);
        return MoeModelConfig.FromJson(Encoding.UTF8.GetString(bytes), "model zip: " + entry);
    }

    /// <summary>The saved tokenizer of entry <paramref name="entry"/>, refused when it is not the one saved (a swapped or damaged entry).</summary>
    public static MoeTokenizer ReadTokenizer(byte[] bytes, byte[]? recordedDigest, string entry, string owner)
    {
        ModelStreams.RequireRecordedDigest(bytes, recordedDigest, entry, "tokenizer", owner);
        return MoeTokenizer.Deserialize(bytes);
    }

    /// <summary>
    /// Reads the config entry <paramref name="configEntry"/> and the tokenizer entry <paramref name="tokenizerEntry"/> of a
    /// <paramref name="owner"/>, each checked against its recorded digest; a missing entry is refused as an incomplete file.
    /// </summary>
    public static (MoeModelConfig Config, MoeTokenizer Tokenizer) Read(ModelLoadContext ctx, string configEntry, byte[]? configDigest,
        string tokenizerEntry, byte[]? tokenizerDigest, string owner)
    {
        MoeModelConfig? config = null;
        MoeTokenizer? tokenizer = null;
        if (!ctx.TryLoadBinaryStream(configEntry, r => config = ReadConfig(ModelStreams.ReadBlock(r, configEntry), configDigest, configEntry, owner)) || config == null)
            throw new InvalidDataException($"The {owner} has no '{configEntry}' entry: the model file is incomplete.");
        if (!ctx.TryLoadBinaryStream(tokenizerEntry, r => tokenizer = ReadTokenizer(ModelStreams.ReadBlock(r, tokenizerEntry), tokenizerDigest, tokenizerEntry, owner)) || tokenizer == null)
            throw new InvalidDataException($"The {owner} has no '{tokenizerEntry}' entry: the model file is incomplete.");
        return (config, tokenizer);
    }
}
