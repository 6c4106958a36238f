using System.Text;
using System.Text.Json.Nodes;

namespace MLNet.MoE.Tests.Fuzzing;

/// <summary>Applies <see cref="JsonFieldEdit"/>s to JSON text (dotted paths; numeric segments index arrays).</summary>
internal static class JsonEdits
{
    public static string Apply(string json, IEnumerable<JsonFieldEdit> edits)
    {
        var root = JsonNode.Parse(json)!;
        foreach (var edit in edits)
        {
            string[] path = edit.Field.Split('.');
            JsonNode? parent = root;
            for (int i = 0; i < path.Length - 1 && parent != null; i++)
                parent = parent is JsonArray array ? (int.TryParse(path[i], out int index) && index < array.Count ? array[index] : null) : parent[path[i]];
            if (parent is not JsonObject target) continue;
            string key = path[^1];
            if (edit.JsonValue == null) target.Remove(key);
            else target[key] = JsonNode.Parse(edit.JsonValue);
        }
        return root.ToJsonString();
    }

    public static byte[] ApplyUtf8(byte[] json, IEnumerable<JsonFieldEdit> edits) => Encoding.UTF8.GetBytes(Apply(Encoding.UTF8.GetString(json), edits));
}
