namespace MLNet.MoE;

/// <summary>
/// The TorchScript source of each fused kernel. TorchScript is the Python subset libtorch compiles itself (no Python
/// present); every ATen operator is callable as <c>torch.&lt;op&gt;</c> and records autograd as usual.
/// <para>Only operators present in every libtorch TorchSharp 0.107 binds against (2.10 or newer) appear here:
/// TorchSharp 0.107's native wrapper catches libtorch's run-time errors but not the TorchScript front end's
/// (<c>torch::jit::ErrorReport</c>), so a source that failed to compile would end the process instead of throwing.
/// What does differ between libtorch builds and devices (a dtype, a layout, a GPU generation) fails when the kernel
/// runs, and the start-up probe catches that.</para>
/// </summary>
internal static class TorchScriptKernelSources
{
    /// <summary>x [..., D] · rsqrt(mean(x²) + eps) · weight [D], forward and backward in ATen's kernels.</summary>
    public const string RmsNorm = """
        def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
            return torch.rms_norm(x, [x.size(-1)], weight, eps)
        """;

    /// <summary>silu(gate) · up over gate_up [..., 2·I] (gate first, then up) → [..., I].</summary>
    public const string SwiGlu = """
        def swiglu(gate_up: Tensor) -> Tensor:
            width = gate_up.size(-1) // 2
            return torch.silu(gate_up.narrow(-1, 0, width)) * gate_up.narrow(-1, width, width)
        """;

    /// <summary>
    /// Mean cross-entropy of hidden [N, H] · weight [V, H]ᵀ against targets [N], over row chunks so that float32 logits
    /// exist for one chunk at a time. With gradients it also returns d loss / d hidden [N, H] (hidden's dtype) and
    /// d loss / d weight [V, H] (float32), computed chunk by chunk from softmax − one-hot: the caller's autograd
    /// function hands them to the backward pass. The logits are projected in hidden's dtype and read by one float32
    /// log-softmax (ATen's kernel upcasts as it reads); the probabilities come from it in place, so a chunk costs three
    /// passes over its [rows, V] values (log-softmax, exp, the cast for the two gradient products). The 1/N of the mean
    /// is applied once, to the small [N, H] and [V, H] results.
    /// </summary>
    public const string LinearCrossEntropy = """
        def linear_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor, chunk_rows: int, with_grad: bool) -> Tuple[Tensor, Tensor, Tensor]:
            n = hidden.size(0)
            w = weight.to(hidden.dtype)
            float32 = 6  # ScalarType.Float: a dtype is an int in TorchScript, and torch.float32 is not a value there
            loss = weight.new_zeros([], dtype=float32)
            grad_hidden = torch.empty_like(hidden) if with_grad else hidden.new_zeros([0])
            grad_weight = torch.zeros_like(weight) if with_grad else weight.new_zeros([0])
            for start in range(0, n, chunk_rows):
                rows = min(chunk_rows, n - start)
                h = hidden.narrow(0, start, rows)
                t = targets.narrow(0, start, rows).unsqueeze(1)
                log_probs = torch.log_softmax(torch.mm(h, w.t()), 1, dtype=float32)
                loss -= log_probs.gather(1, t).sum()
                if with_grad:
                    probs = log_probs.exp_()
                    probs.scatter_add_(1, t, torch.full([rows, 1], -1.0, dtype=probs.dtype, device=probs.device))
                    g = probs.to(hidden.dtype)
                    grad_hidden.narrow(0, start, rows).copy_(torch.mm(g, w))
                    grad_weight.add_(torch.mm(g.t(), h))
            scale = 1.0 / n
            if with_grad:
                grad_hidden.mul_(scale)
                grad_weight.mul_(scale)
            return loss * scale, grad_hidden, grad_weight
        """;

    /// <summary>
    /// One AdamW step per parameter group with <c>torch._fused_adamw_</c> (PyTorch's <c>fused=True</c> AdamW). The
    /// step count is incremented first (the bias correction divides by 1 − β^step, zero at step 0), and taken back
    /// when found_inf is 1: the fused kernel then leaves parameters and moments as they were, on the device, with no
    /// host synchronisation. The kernel divides gradients by grad_scale (the clipping coefficient's reciprocal).
    /// The tensor lists come from the caller: TorchScript drops an in-place operation on a list built inside a function
    /// that returns nothing (<c>torch._fused_adamw_([param], …)</c> silently does nothing).
    /// </summary>
    public const string AdamW = """
        def adamw_begin(steps: List[Tensor]):
            torch._foreach_add_(steps, 1.0)

        def adamw_group(params: List[Tensor], grads: List[Tensor], exp_avgs: List[Tensor], exp_avg_sqs: List[Tensor], steps: List[Tensor], lr: float, beta1: float, beta2: float, weight_decay: float, eps: float, grad_scale: Tensor, found_inf: Tensor):
            torch._fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, [], steps, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False, grad_scale=grad_scale, found_inf=found_inf)

        def adamw_end(step: Tensor, found_inf: Tensor):
            step.sub_(found_inf)
        """;

    /// <summary>
    /// The routed SwiGLU experts over rows sorted by expert: x [ΣT, H], gate_up [E, 2·I, H], down [E, H, I], offsets
    /// [E] int32 (cumulative row ends) → [ΣT, H]. Two grouped GEMMs, no padding and no dropped rows. The weights are
    /// passed transposed (a view, no copy), the column-major layout the grouped GEMM reads directly.
    /// <c>grouped_swiglu_experts_lora</c> adds LoRA terms kept apart from the weights: for each projection W with factors
    /// A [E, r', in] and B [E, out, r'], (x·Aᵀ)·(scaling·B)ᵀ, two grouped GEMMs of rank r' over the same rows, added in
    /// place to the base product (whose backward pass needs only its inputs). The scaling goes on B, a small tensor: on
    /// the rows it would be two more passes over [ΣT, 2·I] values, forward and backward.
    /// </summary>
    public const string GroupedMm = """
        def grouped_swiglu_experts(x: Tensor, gate_up: Tensor, down: Tensor, offsets: Tensor) -> Tensor:
            h = torch._grouped_mm(x, gate_up.transpose(1, 2), offs=offsets)
            width = h.size(-1) // 2
            a = torch.silu(h.narrow(-1, 0, width)) * h.narrow(-1, width, width)
            return torch._grouped_mm(a, down.transpose(1, 2), offs=offsets)

        def grouped_swiglu_experts_lora(x: Tensor, gate_up: Tensor, down: Tensor, offsets: Tensor, gate_up_a: Tensor, gate_up_b: Tensor, down_a: Tensor, down_b: Tensor, scaling: float) -> Tensor:
            h = torch._grouped_mm(x, gate_up.transpose(1, 2), offs=offsets)
            h.add_(torch._grouped_mm(torch._grouped_mm(x, gate_up_a.transpose(1, 2), offs=offsets), (gate_up_b * scaling).transpose(1, 2), offs=offsets))
            width = h.size(-1) // 2
            a = torch.silu(h.narrow(-1, 0, width)) * h.narrow(-1, width, width)
            out = torch._grouped_mm(a, down.transpose(1, 2), offs=offsets)
            return out.add_(torch._grouped_mm(torch._grouped_mm(a, down_a.transpose(1, 2), offs=offsets), (down_b * scaling).transpose(1, 2), offs=offsets))
        """;

    /// <summary>The source of <paramref name="op"/>.</summary>
    public static string For(KernelOp op) => op switch
    {
        KernelOp.RmsNorm => RmsNorm,
        KernelOp.SwiGlu => SwiGlu,
        KernelOp.LinearCrossEntropy => LinearCrossEntropy,
        KernelOp.AdamW => AdamW,
        KernelOp.GroupedMm => GroupedMm,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "No kernel source for this operation."),
    };
}
