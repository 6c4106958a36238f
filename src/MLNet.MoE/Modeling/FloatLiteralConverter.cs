using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MLNet.MoE;

/// <summary>
/// Writes a config's float fields as numbers that read back as floats in Python: System.Text.Json writes 1.0 as
/// <c>1</c>, which Hugging Face's strictly typed configs (transformers 5) refuse for a float field, so a whole value
/// keeps a <c>.0</c> (<c>1.0</c>, <c>10000.0</c>); any other value is written in its shortest round-trip form
/// (<c>0.02</c>, <c>1E-06</c>). Reads any finite JSON number.
/// </summary>
internal sealed class FloatLiteralConverter : JsonConverter<double>
{
    /// <inheritdoc />
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDouble();

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (!double.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "Config float fields must be finite.");
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        if (text.IndexOfAny(['.', 'E', 'e']) < 0) text += ".0";
        writer.WriteRawValue(text);
    }
}
