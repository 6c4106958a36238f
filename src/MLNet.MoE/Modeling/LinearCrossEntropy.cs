using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// The output head and its loss in one: mean cross-entropy of hidden [N, H] · weight [V, H]ᵀ against targets [N], with
/// the fused kernel that runs over row chunks. The managed alternative (project, cast to float32, cross-entropy) holds
/// float32 logits [N, V] for the whole batch, kept again for the backward pass: with a large vocabulary, the largest
/// tensors of a training step. Here float32 logits exist for one chunk at a time, and the gradients for the hidden
/// states and the head are computed in the same pass over the chunk (softmax − one-hot), so nothing of that size is
/// kept for the backward pass, which only scales the two gradients. The loss and gradients equal the managed ones up to
/// summation order.
/// <para>TorchSharp has custom autograd functions (<see cref="torch.autograd.SingleTensorFunction{T}"/>) but no
/// <c>torch.autograd.Function</c> in TorchScript, so the chunk loop is one TorchScript call and this function hands its
/// gradients to autograd.</para>
/// </summary>
internal sealed class LinearCrossEntropy : torch.autograd.SingleTensorFunction<LinearCrossEntropy>
{
    /// <summary>float32 logits per chunk: 2^26 values (256 MiB), enough rows for GEMMs that fill a GPU.</summary>
    private const long LogitsPerChunk = 1L << 26;

    /// <inheritdoc />
    public override string Name => nameof(LinearCrossEntropy);

    /// <summary>Rows per chunk for a vocabulary of <paramref name="vocabulary"/> ids.</summary>
    public static int ChunkRows(long vocabulary) => (int)Math.Clamp(LogitsPerChunk / Math.Max(1, vocabulary), 1, int.MaxValue);

    /// <summary>
    /// The mean cross-entropy (float32 scalar) of hidden [N, H] (any float dtype) through the head weight [V, H]
    /// (float32, cast to hidden's dtype as a projection would) against targets [N] (valid ids, none ignored), in chunks
    /// of <paramref name="chunkRows"/> rows (default <see cref="ChunkRows"/>). The gradients' tensors live until
    /// <paramref name="context"/> is disposed (the backward pass may run on another thread, with no dispose scope).
    /// </summary>
    public static Tensor Mean(Tensor hidden, Tensor weight, Tensor targets, TorchScriptKernels kernels, ForwardContext context, int? chunkRows = null)
    {
        int rows = chunkRows ?? ChunkRows(weight.shape[0]);
        if (!torch.is_grad_enabled() || !hidden.requires_grad && !weight.requires_grad)
        {
            using var scope = torch.NewDisposeScope();
            var (loss, _, _) = kernels.LinearCrossEntropy(hidden, weight, targets, rows, withGradients: false);
            return loss.MoveToOuterDisposeScope();
        }
        return apply(hidden, weight, targets, new Call(kernels, rows, context));
    }

    /// <inheritdoc />
    public override Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var call = (Call)vars[3];
        var (loss, hiddenGradient, weightGradient) = call.Kernels.LinearCrossEntropy((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], call.ChunkRows, withGradients: true);
        ctx.save_for_backward(new List<Tensor> { hiddenGradient, weightGradient });
        ctx.save_data("call", call);
        // TorchSharp would build a zero gradient from a tensor made in the caller's dispose scope, gone by the backward pass.
        ctx.set_materialize_grads(false);
        return loss;
    }

    /// <inheritdoc />
    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, Tensor grad_output)
    {
        var call = (Call)ctx.get_data("call");
        if (grad_output is not { IsInvalid: false }) return new List<Tensor> { null!, null!, null!, null! };
        // Own scope: on CUDA the autograd engine calls this from its device thread, where no caller's scope is open.
        using var scope = torch.NewDisposeScope();
        var saved = ctx.get_saved_variables();
        // The loss's gradient (e.g. 1 / accumulation steps) is a float32 scalar: each product rounds once, in the
        // gradient's own dtype.
        var hiddenGradient = call.Context.Retain(saved[0] * grad_output);
        var weightGradient = call.Context.Retain(saved[1] * grad_output);
        grad_output.Dispose();
        return new List<Tensor> { hiddenGradient, weightGradient, null!, null! };
    }

    /// <summary>What the backward pass needs besides the saved gradients.</summary>
    private sealed class Call(TorchScriptKernels kernels, int chunkRows, ForwardContext context)
    {
        public TorchScriptKernels Kernels { get; } = kernels;

        public int ChunkRows { get; } = chunkRows;

        public ForwardContext Context { get; } = context;
    }
}
