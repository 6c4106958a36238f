using System.Globalization;
using System.Text.Json;
using MLNet.MoE;

/// <summary>
/// Compares an imported model's logits with a reference: logits another implementation recorded for the same
/// checkpoint (a JSON file), or the model that wrote the checkpoint. Prints the largest difference and returns whether it
/// is within the tolerance.
/// </summary>
internal static class ReferenceLogits
{
    /// <summary>
    /// Against a file with <c>input_ids</c> (rows of token ids) and <c>logits</c> (every row's logits, flattened
    /// row-major, as <c>model(input_ids).logits</c> of transformers).
    /// </summary>
    public static bool Compare(LanguageModelTransformer imported, string referencePath, double tolerance)
    {
        using var reference = JsonDocument.Parse(File.ReadAllText(referencePath));
        var root = reference.RootElement;
        int[][] rows = root.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        float[] expected = root.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        int expectedCount = rows.Sum(r => r.Length) * imported.VocabularySize;
        if (expected.Length != expectedCount)
        {
            Console.Error.WriteLine($"check failed: {referencePath} holds {expected.Length} logits, but its input_ids and the model's vocabulary ({imported.VocabularySize}) make {expectedCount}.");
            return false;
        }
        float[] actual = rows.SelectMany(imported.Logits).ToArray();
        return Report($"the logits in {referencePath}", actual, expected, tolerance);
    }

    /// <summary>Against the model that wrote the checkpoint, on the given token rows.</summary>
    public static bool Compare(LanguageModelTransformer imported, LanguageModelTransformer exporting, IEnumerable<int[]> rows, double tolerance)
    {
        var list = rows.ToList();
        return Report("the exporting model's logits", list.SelectMany(imported.Logits).ToArray(), list.SelectMany(exporting.Logits).ToArray(), tolerance);
    }

    private static bool Report(string what, float[] actual, float[] expected, double tolerance)
    {
        double difference = actual.Zip(expected, (a, b) => (double)Math.Abs(a - b)).DefaultIfEmpty(double.NaN).Max();
        // NaN (no logits, or a non-finite one) fails as well.
        bool passed = difference <= tolerance;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Compared {actual.Length} logits with {what}: max |difference| {difference:G3} (tolerance {tolerance:G3}): {(passed ? "match" : "MISMATCH")}."));
        if (!passed) Console.Error.WriteLine($"check failed: the imported model's logits differ from {what}.");
        return passed;
    }
}
