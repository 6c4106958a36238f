using System.Text.Json;

namespace MLNet.MoE.Tests.Checkpoints;

/// <summary>
/// config.json must type its numbers as transformers writes them: transformers 5 validates configs strictly and refuses
/// an integer literal (<c>1</c>) in a float field (<c>routed_scaling_factor</c>), even when the value is whole.
/// </summary>
public class ConfigJsonTypeTests
{
    private static readonly string FixtureConfig = TestPaths.DataFile("deepseek-v3-tiny-a", "config.json");

    [Fact]
    public void WholeFloatValuesAreWrittenAsFloatLiteralsWhereTransformersWritesFloats()
    {
        // Whole values in every float field, so a writer that drops ".0" is caught.
        var config = MoeModelConfig.Load(FixtureConfig) with { RoutedScalingFactor = 1.0, RopeTheta = 10000, RmsNormEps = 1e-6, InitializerRange = 1 };
        using var reference = JsonDocument.Parse(File.ReadAllText(FixtureConfig));
        using var ours = JsonDocument.Parse(config.ToJson());

        int compared = CompareNumberKinds(reference.RootElement, ours.RootElement, "");
        compared += CompareNumberKinds(reference.RootElement.GetProperty("rope_parameters"), ours.RootElement.GetProperty("rope_parameters"), "rope_parameters.");

        // routed_scaling_factor, attention_dropout, initializer_range, rms_norm_eps, rope_theta and the integer sizes.
        Assert.True(compared >= 20, $"only {compared} numeric fields were compared");
        Assert.Equal("1.0", ours.RootElement.GetProperty("routed_scaling_factor").GetRawText());
    }

    [Fact]
    public void YarnScalingFactorsAreFloatLiteralsAndItsOriginalLengthAnInteger()
    {
        var config = MoeModelConfig.Tiny with
        {
            RopeScaling = new RopeScaling { Factor = 40, OriginalMaxPositionEmbeddings = 128, BetaFast = 32, BetaSlow = 1, MScale = 1, MScaleAllDim = 1 },
        };
        using var ours = JsonDocument.Parse(config.ToJson());
        foreach (string section in new[] { "rope_scaling", "rope_parameters" })
        {
            var element = ours.RootElement.GetProperty(section);
            foreach (string field in new[] { "factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim" })
                Assert.True(IsFloatLiteral(element.GetProperty(field)), $"{section}.{field} is written as {element.GetProperty(field).GetRawText()}");
            Assert.Equal("128", element.GetProperty("original_max_position_embeddings").GetRawText());
        }
    }

    private static int CompareNumberKinds(JsonElement reference, JsonElement ours, string prefix)
    {
        int compared = 0;
        foreach (var property in reference.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.Number || !ours.TryGetProperty(property.Name, out var value)) continue;
            Assert.Equal(JsonValueKind.Number, value.ValueKind);
            Assert.True(IsFloatLiteral(property.Value) == IsFloatLiteral(value),
                $"{prefix}{property.Name}: transformers writes {property.Value.GetRawText()}, MLNet.MoE writes {value.GetRawText()}");
            compared++;
        }
        return compared;
    }

    private static bool IsFloatLiteral(JsonElement number) => number.GetRawText().IndexOfAny(['.', 'e', 'E']) >= 0;
}
