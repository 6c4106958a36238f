namespace MLNet.MoE;

/// <summary>Options of an ONNX export (<c>mlContext.MoE().ExportOnnx</c>).</summary>
public sealed record OnnxExportOptions
{
    /// <summary>The most bytes a single protobuf may hold (2 GiB); larger initializers go to an external data file.</summary>
    public const long ProtobufLimitBytes = int.MaxValue;

    /// <summary>How matrices are stored. Default float32.</summary>
    public OnnxWeightType Weights { get; init; } = OnnxWeightType.Float32;

    /// <summary>Weights per quantization block along the input dimension (a power of two, at least 16). Default 32.</summary>
    public int BlockSize { get; init; } = 32;

    /// <summary>How routed experts are expressed. Default <see cref="OnnxExpertKernel.MoeOperator"/>.</summary>
    public OnnxExpertKernel Experts { get; init; } = OnnxExpertKernel.MoeOperator;

    /// <summary>
    /// Initializer bytes above which the weights are written to <c>model.onnx.data</c> beside <c>model.onnx</c> instead of
    /// inside it. Default: just under the 2 GiB protobuf limit. Must be positive.
    /// </summary>
    public long ExternalDataThresholdBytes { get; init; } = ProtobufLimitBytes - (64L << 20);

    /// <summary>
    /// The <c>accuracy_level</c> of quantized <c>MatMulNBits</c> nodes: 0 keeps float32 activations (most accurate),
    /// 4 lets ONNX Runtime quantize activations to int8 (faster on CPU). Default 0.
    /// </summary>
    public int QuantizedAccuracyLevel { get; init; }

    /// <summary>Checks the options; throws <see cref="ArgumentOutOfRangeException"/> naming the option.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Weights)) throw new ArgumentOutOfRangeException(nameof(Weights), Weights, "OnnxExportOptions.Weights is not a known weight type.");
        if (!Enum.IsDefined(Experts)) throw new ArgumentOutOfRangeException(nameof(Experts), Experts, "OnnxExportOptions.Experts is not a known expert kernel.");
        if (BlockSize < 16 || (BlockSize & (BlockSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "OnnxExportOptions.BlockSize must be a power of two, at least 16.");
        if (Weights is OnnxWeightType.Int8 or OnnxWeightType.Int4 && Experts == OnnxExpertKernel.StandardOperators)
            throw new ArgumentOutOfRangeException(nameof(Experts), Experts, "Quantized export needs OnnxExportOptions.Experts = MoeOperator (QMoE); the standard-operator experts are float32 only.");
        if (ExternalDataThresholdBytes <= 0) throw new ArgumentOutOfRangeException(nameof(ExternalDataThresholdBytes), ExternalDataThresholdBytes, "OnnxExportOptions.ExternalDataThresholdBytes must be positive.");
        if (QuantizedAccuracyLevel is not (0 or 1 or 2 or 3 or 4))
            throw new ArgumentOutOfRangeException(nameof(QuantizedAccuracyLevel), QuantizedAccuracyLevel, "OnnxExportOptions.QuantizedAccuracyLevel must be 0 to 4.");
    }
}
