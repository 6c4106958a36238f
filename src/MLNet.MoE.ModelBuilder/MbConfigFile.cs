using System.Text.Json;
using System.Text.Json.Serialization;

namespace MLNet.MoE;

/// <summary>
/// Reads <c>.mbconfig</c> files strictly: a setting the record type does not have, or a required one the file lacks, is
/// refused with <see cref="InvalidDataException"/> naming the file and the setting. <see cref="TextClassificationConfiguration.Load"/>
/// and <see cref="LanguageModelingConfiguration.Load"/> read through it and then check the values.
/// </summary>
public static class MbConfigFile
{
    private static readonly JsonSerializerOptions Json = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        // A null where the record's property is not nullable is refused like a missing setting.
        RespectNullableAnnotations = true,
    };

    /// <summary>Deserializes the file as <typeparamref name="TConfiguration"/>, refusing unknown and missing settings.</summary>
    /// <typeparam name="TConfiguration">The record type the file holds (a <c>required</c> property is a setting the file must have).</typeparam>
    /// <param name="mbconfigPath">The <c>.mbconfig</c> file.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">It is empty, not valid JSON, lacks a required setting, has an unknown one, or has null for a setting that needs a value.</exception>
    public static TConfiguration Read<TConfiguration>(string mbconfigPath)
        where TConfiguration : class
    {
        ArgumentException.ThrowIfNullOrEmpty(mbconfigPath);
        if (!File.Exists(mbconfigPath)) throw new FileNotFoundException($"Training configuration '{mbconfigPath}' does not exist.", mbconfigPath);
        try
        {
            return JsonSerializer.Deserialize<TConfiguration>(File.ReadAllText(mbconfigPath), Json)
                ?? throw new InvalidDataException($"Training configuration '{mbconfigPath}' is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Training configuration '{mbconfigPath}' is not valid: {e.Message}", e);
        }
    }

    /// <summary>Refuses the file when <paramref name="condition"/> does not hold: the message names the file, then says which setting is wrong.</summary>
    /// <param name="mbconfigPath">The <c>.mbconfig</c> file.</param>
    /// <param name="condition">What the setting must satisfy.</param>
    /// <param name="message">The setting and what it must be, e.g. <c>Scenario must be TextClassification, not 'X'.</c></param>
    /// <exception cref="InvalidDataException"><paramref name="condition"/> is false.</exception>
    public static void Require(string mbconfigPath, bool condition, string message)
    {
        if (!condition) throw new InvalidDataException($"Training configuration '{mbconfigPath}': {message}");
    }
}
