using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// One optimizer step as the training engine took it: its learning rate, the device flag (1 or 0, float32 [1]) of whether
/// the update was applied (loss and gradient finite), and the sum of the micro-batches' reported losses (float64 [1]).
/// The tensors belong to the dispose scope the step ran in.
/// </summary>
internal sealed record StepOutcome(double LearningRate, Tensor Applied, Tensor ReportedLoss);
