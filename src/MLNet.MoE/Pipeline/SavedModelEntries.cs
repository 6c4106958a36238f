using System.Text;

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
}
