using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>Maps <see cref="ModelWeightType"/> to TorchSharp's element types and back.</summary>
internal static class ModelWeightTypes
{
    /// <summary>The TorchSharp element type of <paramref name="type"/>.</summary>
    public static ScalarType ToScalarType(this ModelWeightType type) => type switch
    {
        ModelWeightType.Float32 => ScalarType.Float32,
        ModelWeightType.BFloat16 => ScalarType.BFloat16,
        ModelWeightType.Float16 => ScalarType.Float16,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "The weight type must be Float32, BFloat16 or Float16."),
    };

    /// <summary>The weight type of a TorchSharp element type.</summary>
    public static ModelWeightType FromScalarType(ScalarType type) => type switch
    {
        ScalarType.Float32 => ModelWeightType.Float32,
        ScalarType.BFloat16 => ModelWeightType.BFloat16,
        ScalarType.Float16 => ModelWeightType.Float16,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Model weights are Float32, BFloat16 or Float16."),
    };

    /// <summary>
    /// The type activations are computed in when a model with weights of <paramref name="weightType"/> scores or
    /// generates: the weights' own half-precision type (no per-call cast of every weight), else float32.
    /// </summary>
    public static ScalarType InferenceComputeType(ScalarType weightType) =>
        weightType is ScalarType.BFloat16 or ScalarType.Float16 ? weightType : ScalarType.Float32;
}
