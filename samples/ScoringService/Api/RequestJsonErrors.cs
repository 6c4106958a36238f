using System.Text.Json;
using System.Text.RegularExpressions;

namespace MLNet.MoE.Samples.ScoringService.Api;

/// <summary>Turns a <see cref="JsonException"/> from reading a request body into a message for the client that names the field, without .NET type names.</summary>
public static partial class RequestJsonErrors
{
    /// <summary>The client's message for <paramref name="error"/>.</summary>
    public static string Describe(JsonException error)
    {
        string field = string.IsNullOrEmpty(error.Path) || error.Path == "$" ? "" : error.Path.StartsWith("$.", StringComparison.Ordinal) ? error.Path[2..] : error.Path;
        var unknown = UnknownProperty().Match(error.Message);
        if (unknown.Success)
            return $"The field '{unknown.Groups[1].Value}' is not part of this endpoint's request; remove it (unknown fields are refused).";
        var conversion = Conversion().Match(error.Message);
        if (conversion.Success && field.Length > 0)
            return $"The field '{field}' has the wrong type: it must be {Expected(conversion.Groups[1].Value)} (numbers as JSON numbers, not strings).";
        return field.Length > 0 ? $"The request body is not valid JSON for this endpoint at {field}." : "The request body is not valid JSON for this endpoint.";
    }

    private static string Expected(string type) => type switch
    {
        _ when type.Contains("Int32", StringComparison.Ordinal) || type.Contains("Int64", StringComparison.Ordinal) => "an integer",
        _ when type.Contains("Double", StringComparison.Ordinal) || type.Contains("Single", StringComparison.Ordinal) => "a number",
        _ when type.Contains("Boolean", StringComparison.Ordinal) => "true or false",
        _ when type.Contains("List", StringComparison.Ordinal) || type.Contains("[]", StringComparison.Ordinal) => "an array",
        _ when type.Contains("String", StringComparison.Ordinal) => "a string",
        _ => "a value of another type",
    };

    [GeneratedRegex("The JSON property '([^']*)' could not be mapped")]
    private static partial Regex UnknownProperty();

    [GeneratedRegex("could not be converted to ([^.]+(?:\\.[A-Za-z0-9`\\[\\]]+)*)")]
    private static partial Regex Conversion();
}
