using System.Text.Json;
using System.Text.Json.Serialization;

namespace MLNet.MoE;

/// <summary>
/// Reads a config's integer fields from any JSON number with an integral value in range (<c>32</c>, also <c>32.0</c> or
/// <c>3.2e1</c>), as Python reads a whole float where an int is meant; a fraction or a value beyond <see cref="int"/> is
/// refused. Writes the plain integer.
/// </summary>
internal sealed class IntegralNumberConverter : JsonConverter<int>
{
    /// <inheritdoc />
    public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TryGetInt32(out int value)) return value;
        double number = reader.GetDouble();
        return number == Math.Floor(number) && number >= int.MinValue && number <= int.MaxValue ? (int)number : throw new JsonException();
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options) => writer.WriteNumberValue(value);
}
