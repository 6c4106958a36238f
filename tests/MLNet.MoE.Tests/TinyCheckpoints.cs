using System.Text.Json.Nodes;

namespace MLNet.MoE.Tests;

/// <summary>Copies of the small Hugging Face checkpoint of data/hf-config-semantics, with config edits.</summary>
internal static class TinyCheckpoints
{
    /// <summary>The checkpoint whose config.json holds only the shapes (transformers' defaults for the rest).</summary>
    public static string Source => TestPaths.DataFile("hf-config-semantics", "deepseek-v3-tiny-defaults");

    /// <summary>A new folder with the checkpoint's weights and its config with <paramref name="field"/> set to <paramref name="value"/>.</summary>
    public static string With(string field, JsonNode? value) => With(config => config[field] = value);

    /// <summary>A new folder with the checkpoint's weights and its config changed by <paramref name="edit"/>.</summary>
    public static string With(Action<JsonObject> edit)
    {
        string folder = TestPaths.NewTempDirectory();
        File.Copy(Path.Combine(Source, "model.safetensors"), Path.Combine(folder, "model.safetensors"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Source, "config.json")))!.AsObject();
        edit(config);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        return folder;
    }
}
