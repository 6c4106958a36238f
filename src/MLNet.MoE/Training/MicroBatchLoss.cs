using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// What one micro-batch's forward pass gives the training engine: <paramref name="Objective"/> (the loss that is
/// differentiated, balance and auxiliary terms included), <paramref name="Reported"/> (the loss summed into the step's
/// reported loss and checked for finiteness) and <paramref name="Divisor"/>, which the objective is divided by before
/// its backward pass (the number of equal micro-batches, or the batch's rows over this micro-batch's), and the
/// <paramref name="Routing"/> the forward pass returned (the expert loads the step's balancing and meters use).
/// </summary>
internal readonly record struct MicroBatchLoss(Tensor Objective, Tensor Reported, double Divisor, RoutingStatistics Routing);
