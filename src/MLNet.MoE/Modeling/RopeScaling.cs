using System.Text.Json.Serialization;

namespace MLNet.MoE;

/// <summary>
/// YaRN rotary-embedding scaling, as in Hugging Face's <c>rope_scaling</c> / <c>rope_parameters</c> with
/// <c>rope_type = "yarn"</c>: it stretches the rotary frequencies so a model trained on
/// <see cref="OriginalMaxPositionEmbeddings"/> positions reads longer contexts. Each property's JSON name is Hugging Face's.
/// </summary>
public sealed record RopeScaling
{
    /// <summary>The context extension factor, greater than 1.</summary>
    [JsonPropertyName("factor")] public double Factor { get; init; } = 1.0;

    /// <summary>The context length the model was first trained on.</summary>
    [JsonPropertyName("original_max_position_embeddings")] public int OriginalMaxPositionEmbeddings { get; init; } = 4096;

    /// <summary>Rotations above which frequencies are kept as they are.</summary>
    [JsonPropertyName("beta_fast")] public double BetaFast { get; init; } = 32;

    /// <summary>Rotations below which frequencies are fully interpolated.</summary>
    [JsonPropertyName("beta_slow")] public double BetaSlow { get; init; } = 1;

    /// <summary>The <c>mscale</c> of the cos/sin attention factor.</summary>
    [JsonPropertyName("mscale")] public double MScale { get; init; } = 1;

    /// <summary>The <c>mscale_all_dim</c>; when non-zero the softmax scale is multiplied by its mscale squared.</summary>
    [JsonPropertyName("mscale_all_dim")] public double MScaleAllDim { get; init; }

    /// <summary>The section's type, written for Hugging Face; a read checks it before the section is bound (<see cref="MoeModelConfig.FromJson"/>).</summary>
    [JsonInclude, JsonPropertyName("rope_type"), JsonPropertyOrder(-1)] private string RopeType => "yarn";

    /// <summary>YaRN's magnitude correction: <c>0.1·m·ln(s) + 1</c> for a scale s above 1, else 1.</summary>
    public static double GetMScale(double scale, double m = 1) => scale <= 1 ? 1.0 : 0.1 * m * Math.Log(scale) + 1.0;

    /// <summary>The factor cos and sin are multiplied by (Hugging Face's <c>attention_factor</c>).</summary>
    [JsonIgnore]
    public double AttentionFactor =>
        MScale != 0 && MScaleAllDim != 0 ? GetMScale(Factor, MScale) / GetMScale(Factor, MScaleAllDim) : GetMScale(Factor);

    /// <summary>The inverse frequencies of a rotary dimension <paramref name="dim"/> with base <paramref name="theta"/>.</summary>
    public double[] InverseFrequencies(int dim, double theta)
    {
        int half = dim / 2;
        double FindCorrectionDim(double rotations) =>
            dim * Math.Log(OriginalMaxPositionEmbeddings / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = Math.Max(Math.Floor(FindCorrectionDim(BetaFast)), 0);
        double high = Math.Min(Math.Ceiling(FindCorrectionDim(BetaSlow)), dim - 1);
        if (low == high) high += 0.001;
        var result = new double[half];
        for (int i = 0; i < half; i++)
        {
            // HF computes the frequencies in float32; do the same so imported models match exactly.
            float posFreq = (float)Math.Pow(theta, (float)(2 * i) / dim);
            double extrapolation = 1.0 / posFreq;
            double interpolation = 1.0 / (Factor * posFreq);
            double ramp = Math.Clamp((i - low) / (high - low), 0, 1);
            double extrapolationFactor = 1 - ramp;
            result[i] = interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor;
        }
        return result;
    }
}
