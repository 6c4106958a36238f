using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Activation recomputation for one decoder block: the forward pass keeps only the block's input, and the backward pass
/// runs the block again with gradients on and back-propagates through that second run. Memory for activations drops
/// from every intermediate of every block to one hidden state per block, for about one extra forward pass of compute.
/// TorchSharp has custom autograd functions but no <c>torch.utils.checkpoint</c>, so this is that reentrant checkpoint
/// written on <see cref="torch.autograd.MultiTensorFunction{T}"/>.
/// <para>The block's outputs are its hidden state and, for an MoE block with a balance loss, that loss, so it keeps its
/// gradient. The routing statistics come from the first run only and are returned beside the hidden state. The
/// recomputation is exact: routing, capacity dropping and the kernels see the same inputs again.</para>
/// </summary>
internal sealed class RecomputedBlock : torch.autograd.MultiTensorFunction<RecomputedBlock>
{
    /// <inheritdoc />
    public override string Name => nameof(RecomputedBlock);

    /// <summary>
    /// Runs <paramref name="block"/> on <paramref name="x"/> with recomputation in the backward pass: its hidden state and,
    /// for an MoE block, the routing of the first run (its balance loss the function's second output).
    /// </summary>
    public static (Tensor Hidden, LayerRouting? Routing) Run(DecoderLayer block, Tensor x, Tensor cos, Tensor sin, RotaryEmbedding rope, ForwardContext context)
    {
        // The rotary tables outlive this forward pass (the backward pass needs them): aliases owned by the context.
        var call = new BlockCall(block, context.Retain(cos.alias()), context.Retain(sin.alias()), rope, context);
        // apply runs forward() in the caller's dispose scope, so the first run's statistics live there like the outputs.
        var outputs = apply(x, call);
        var routing = call.FirstRunRouting is { } first ? first with { BalanceLoss = outputs.Count > 1 ? outputs[1] : null } : null;
        return (outputs[0], routing);
    }

    /// <inheritdoc />
    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var call = (BlockCall)vars[1];
        ctx.save_for_backward(new List<Tensor> { x });
        ctx.save_data("call", call);
        // TorchSharp would build zero gradients for unused outputs from tensors it made in the caller's dispose scope,
        // which is gone by the backward pass; undefined gradients are replaced by zeros below instead.
        ctx.set_materialize_grads(false);
        using var local = call.NewContext();
        var (hidden, routing) = call.Block.Forward(x, call.Cos, call.Sin, call.Rope, local);
        call.FirstRunRouting = routing;
        // A block with a balance loss returns it as a second output, so its gradient reaches the router.
        return routing?.BalanceLoss is { } balanceLoss ? new List<Tensor> { hidden, balanceLoss } : new List<Tensor> { hidden };
    }

    /// <inheritdoc />
    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> grad_outputs)
    {
        var call = (BlockCall)ctx.get_data("call");
        // One gradient per forward output: a second one means the block returned its balance loss.
        bool hasBalanceLoss = grad_outputs.Count > 1;
        // Own scope: on CUDA the autograd engine calls this from its device thread, where no caller's scope is open.
        using var scope = torch.NewDisposeScope();
        var saved = ctx.get_saved_variables()[0];
        var input = saved.detach().requires_grad_(true);
        using var local = call.NewContext();
        var outputs = new List<Tensor>();
        using (torch.enable_grad())
        {
            var (hidden, routing) = call.Block.Forward(input, call.Cos, call.Sin, call.Rope, local);
            outputs.Add(hidden);
            if (hasBalanceLoss) outputs.Add(routing?.BalanceLoss ?? throw new InvalidOperationException("The recomputed block returned no balance loss."));
        }
        // Parameter gradients accumulate into their .grad here; the input's gradient goes back to the outer graph.
        var gradients = outputs.Select((output, i) => grad_outputs[i] is { IsInvalid: false } g ? g : torch.zeros_like(output)).ToList();
        torch.autograd.backward(outputs, gradients);
        var inputGradient = call.Context.Retain(input.grad ?? throw new InvalidOperationException("The recomputed block produced no input gradient."));
        foreach (var gradient in grad_outputs) if (gradient is { IsInvalid: false }) gradient.Dispose();
        return new List<Tensor> { inputGradient, null! };
    }

    /// <summary>What one recomputed block needs again in the backward pass.</summary>
    private sealed class BlockCall(DecoderLayer block, Tensor cos, Tensor sin, RotaryEmbedding rope, ForwardContext context)
    {
        public DecoderLayer Block { get; } = block;

        public Tensor Cos { get; } = cos;

        public Tensor Sin { get; } = sin;

        public RotaryEmbedding Rope { get; } = rope;

        public ForwardContext Context { get; } = context;

        /// <summary>The routing of the first (forward) run, set by <see cref="forward"/>; the backward run's is not used.</summary>
        public LayerRouting? FirstRunRouting { get; set; }

        public ForwardContext NewContext() => new()
        {
            Training = Context.Training,
            CapacityFactor = Context.CapacityFactor,
            BalanceLossWeight = Context.BalanceLossWeight,
            ComputeType = Context.ComputeType,
            Kernels = Context.Kernels,
            Adapters = Context.Adapters,
        };
    }
}
