using System.Text.Json;

namespace MLNet.MoE;

/// <summary>Reads JSON values with errors that name the file and the field.</summary>
internal static class JsonFields
{
    /// <summary>Parses <paramref name="utf8Json"/>; malformed JSON gives <see cref="InvalidDataException"/> naming <paramref name="source"/>.</summary>
    public static JsonDocument Parse(byte[] utf8Json, string source)
    {
        try
        {
            // Duplicate keys are refused: a vocabulary or setting written twice has no one meaning.
            return JsonDocument.Parse(utf8Json, new JsonDocumentOptions { MaxDepth = 256, AllowDuplicateProperties = false });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source} is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}): {MessageText.Printable(ex.Message)}", ex);
        }
    }

    /// <summary>The property <paramref name="name"/> of the object <paramref name="obj"/> (at <paramref name="path"/>), or null if absent.</summary>
    public static JsonElement? Optional(JsonElement obj, string name, string source, string path)
    {
        RequireKind(obj, JsonValueKind.Object, source, path);
        return obj.TryGetProperty(name, out JsonElement value) ? value : null;
    }

    /// <summary>The property <paramref name="name"/> of <paramref name="obj"/>; missing gives <see cref="InvalidDataException"/>.</summary>
    public static JsonElement Required(JsonElement obj, string name, string source, string path)
    {
        JsonElement? value = Optional(obj, name, source, path);
        if (value is null)
        {
            throw new InvalidDataException($"{source}: the field \"{Join(path, name)}\" is missing.");
        }
        return value.Value;
    }

    /// <summary>A string property that may be absent or null.</summary>
    public static string? OptionalString(JsonElement obj, string name, string source, string path)
    {
        JsonElement? value = Optional(obj, name, source, path);
        if (value is null || value.Value.ValueKind == JsonValueKind.Null) return null;
        RequireKind(value.Value, JsonValueKind.String, source, Join(path, name));
        return value.Value.GetString();
    }

    /// <summary>A required string property.</summary>
    public static string RequiredString(JsonElement obj, string name, string source, string path)
    {
        JsonElement value = Required(obj, name, source, path);
        RequireKind(value, JsonValueKind.String, source, Join(path, name));
        return value.GetString()!;
    }

    /// <summary>A boolean property; absent or null gives <paramref name="fallback"/>.</summary>
    public static bool OptionalBool(JsonElement obj, string name, bool fallback, string source, string path)
    {
        JsonElement? value = Optional(obj, name, source, path);
        if (value is null || value.Value.ValueKind == JsonValueKind.Null) return fallback;
        if (value.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw new InvalidDataException($"{source}: the field \"{Join(path, name)}\" must be true or false, not {Describe(value.Value)}.");
        }
        return value.Value.GetBoolean();
    }

    /// <summary>Token ids are below this (16,777,216, the largest vocabulary a model config may declare).</summary>
    public const int IdLimit = 1 << 24;

    /// <summary>A token id: an integer in [0, <see cref="IdLimit"/>).</summary>
    public static int Id(JsonElement value, string source, string path)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int id) || id < 0 || id >= IdLimit)
        {
            throw new InvalidDataException($"{source}: the field \"{path}\" must be an integer token id from 0 to {IdLimit - 1:N0}, not {Describe(value)}.");
        }
        return id;
    }

    /// <summary>Reads an object of token text to id (a vocab.json or model.vocab).</summary>
    public static Dictionary<string, int> Vocabulary(JsonElement obj, string source, string path)
    {
        RequireKind(obj, JsonValueKind.Object, source, path);
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        var tokenOfId = new Dictionary<int, string>();
        foreach (JsonProperty entry in obj.EnumerateObject())
        {
            int id = Id(entry.Value, source, Join(path, entry.Name));
            if (!tokenOfId.TryAdd(id, entry.Name))
                throw new InvalidDataException($"{source}: the field \"{path}\" gives id {id} to both '{tokenOfId[id]}' and '{entry.Name}'; every token needs an id of its own.");
            vocabulary[entry.Name] = id;
        }
        return vocabulary;
    }

    /// <summary>Throws unless <paramref name="value"/> has the kind <paramref name="kind"/>.</summary>
    public static void RequireKind(JsonElement value, JsonValueKind kind, string source, string path)
    {
        if (value.ValueKind != kind)
        {
            string what = kind switch
            {
                JsonValueKind.Object => "an object",
                JsonValueKind.Array => "an array",
                JsonValueKind.String => "a string",
                _ => kind.ToString(),
            };
            throw new InvalidDataException($"{source}: the field \"{(path.Length == 0 ? "(root)" : path)}\" must be {what}, not {Describe(value)}.");
        }
    }

    /// <summary>"a.b" from "a" and "b"; "b" when <paramref name="path"/> is empty.</summary>
    public static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "the number " + value.GetRawText(),
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => value.ValueKind.ToString(),
    };
}
