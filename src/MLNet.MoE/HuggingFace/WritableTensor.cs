using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>A tensor checked and ready to be written: its name, the type it is stored as and its size on disk.</summary>
/// <param name="Name">The tensor's name in the header.</param>
/// <param name="Tensor">The caller's tensor (not owned).</param>
/// <param name="StoredType">The TorchSharp type its bytes are written as.</param>
/// <param name="DType">The safetensors name of <paramref name="StoredType"/>.</param>
/// <param name="Shape">The tensor's dimensions.</param>
/// <param name="ByteLength">The number of bytes it occupies in the data area.</param>
internal sealed record WritableTensor(string Name, Tensor Tensor, ScalarType StoredType, string DType, long[] Shape, long ByteLength);
