using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// AdamW (decoupled weight decay, PyTorch's update rule) over parameters packed into flat buffers, so one optimizer
/// step is a dozen kernels instead of about nine per parameter tensor, and a step whose gradient is not finite is
/// skipped on the device, without a host synchronisation.
/// <para>TorchSharp's own AdamW is written per parameter and has no fused or multi-tensor form; this class re-binds each
/// parameter (and its gradient) to a slice of one contiguous buffer per weight-decay group, then updates the buffers
/// as wholes. Gradients accumulate into those slices during backward; <see cref="ZeroGrad"/> clears them in place.</para>
/// <para>With the fused AdamW kernel (<see cref="KernelOp.AdamW"/>), each group's buffers are updated by one
/// <c>torch._fused_adamw_</c> call (PyTorch's <c>fused=True</c> AdamW, same update rule) with the group's learning rate
/// and weight decay; the clipping coefficient and the skip flag reach the kernel as its <c>grad_scale</c> and
/// <c>found_inf</c> device scalars, so a skipped step still needs no host synchronisation.</para>
/// </summary>
internal sealed class FlatAdamW : IDisposable
{
    private readonly List<Group> groups = new();
    private readonly double beta1;
    private readonly double beta2;
    private readonly double eps;
    private readonly Tensor stepCount;
    private readonly TorchScriptKernels? fused;

    /// <summary>
    /// Packs <paramref name="decay"/> (weight decay <paramref name="weightDecay"/>) and <paramref name="noDecay"/> (none)
    /// into flat buffers on <paramref name="device"/>. The parameters must already be on that device; after this call
    /// they share the buffers' storage, so do not move the model again while the optimizer lives.
    /// </summary>
    public FlatAdamW(IReadOnlyList<Parameter> decay, IReadOnlyList<Parameter> noDecay, double weightDecay, double beta1, double beta2, double eps, Device device, KernelSet? kernels = null)
        : this(OptimizerGroup.ForWeightDecay(decay, noDecay, weightDecay), beta1, beta2, eps, device, kernels)
    {
    }

    /// <summary>
    /// Packs each of <paramref name="parameterGroups"/> into its own flat buffers on <paramref name="device"/>; a group
    /// has its own weight decay and learning-rate scale (empty groups are skipped). Same device rules as the other
    /// constructor. <paramref name="kernels"/> says whether the step runs the fused AdamW kernel (default: managed).
    /// </summary>
    public FlatAdamW(IReadOnlyList<OptimizerGroup> parameterGroups, double beta1, double beta2, double eps, Device device, KernelSet? kernels = null)
    {
        fused = (kernels ?? KernelSet.Managed).Fused(KernelOp.AdamW);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        foreach (var group in parameterGroups)
        {
            if (!(group.LearningRateScale > 0)) throw new ArgumentOutOfRangeException(nameof(parameterGroups), group.LearningRateScale, "A group's learning-rate scale must be positive.");
            if (group.Parameters.Count > 0) groups.Add(new Group(group.Parameters, group.WeightDecay, group.LearningRateScale, device));
        }
        // The fused kernel reads its step count as float32 (exact up to 2^24 steps); the managed step keeps float64.
        stepCount = torch.zeros(1, dtype: fused != null ? ScalarType.Float32 : ScalarType.Float64, device: device);
    }

    /// <summary>Whether <see cref="Step"/> runs the fused AdamW kernel.</summary>
    public bool IsFused => fused != null;

    /// <summary>Clears all gradients (in place: the parameters keep their gradient slices).</summary>
    public void ZeroGrad()
    {
        foreach (var group in groups) group.Gradients.zero_();
    }

    /// <summary>The global L2 norm of all gradients, a float32 device scalar.</summary>
    public Tensor GradientNorm()
    {
        using var scope = torch.NewDisposeScope();
        var norms = groups.Select(g => torch.linalg.vector_norm(g.Gradients, 2, new long[] { 0 }, false)).ToArray();
        var total = norms.Length == 1 ? norms[0] : torch.linalg.vector_norm(torch.stack(norms), 2, new long[] { 0 }, false);
        return total.reshape(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One AdamW step at learning rate <paramref name="learningRate"/>, with gradients scaled by <paramref name="gradientScale"/>
    /// (a device scalar, e.g. the clipping coefficient) and applied only where <paramref name="apply"/> (a device 0/1
    /// float scalar) is 1: with 0 the parameters, moments and step count stay as they were.
    /// </summary>
    public void Step(double learningRate, Tensor gradientScale, Tensor apply)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        if (fused != null)
        {
            FusedStep(fused, learningRate, gradientScale, apply);
            return;
        }
        var applyF = apply.to(ScalarType.Float32);
        stepCount.add_(apply.to(ScalarType.Float64));
        // Bias corrections from the device-side step count (skipped steps do not count).
        var t = stepCount.clamp_min(1);
        var stepSize = (learningRate / (1 - torch.pow(beta1, t))).to(ScalarType.Float32);
        var sqrtCorrection2 = (1 - torch.pow(beta2, t)).sqrt().to(ScalarType.Float32);
        // (sqrt(v) + eps·sqrt(c2)) · k with k = 1 / (sqrt(c2) · stepSize · mask) is PyTorch's denominator divided by the
        // step size; a skipped step (mask 0) makes k infinite, so its update is m / inf = 0.
        var denominatorScale = (sqrtCorrection2 * stepSize * applyF).reciprocal();
        foreach (var group in groups)
        {
            // The gradient buffer is scratch (cleared before the next step): sanitise and scale it in place. A skipped
            // step may hold NaN/Inf gradients; zeroing them keeps the masked updates below finite.
            var g = group.Gradients.nan_to_num_(0, 0, 0).mul_(gradientScale.to(ScalarType.Float32));
            double groupRate = learningRate * group.LearningRateScale;
            if (group.WeightDecay != 0) group.Parameters.mul_(1 - groupRate * group.WeightDecay * applyF);
            group.ExpAvg.lerp_(g, applyF * (float)(1 - beta1));
            group.ExpAvgSq.lerp_(g.mul_(g), applyF * (float)(1 - beta2));
            // p -= stepSize · m / (sqrt(v) / sqrt(c2) + eps).
            // A group's step size is its scale times the base one, so its denominator scale is divided by it.
            var groupDenominatorScale = group.LearningRateScale == 1.0 ? denominatorScale : denominatorScale / group.LearningRateScale;
            var denominator = group.ExpAvgSq.sqrt().add_(sqrtCorrection2 * (float)eps).mul_(groupDenominatorScale);
            group.Parameters.addcdiv_(group.ExpAvg, denominator, value: -1);
        }
    }

    /// <summary>
    /// The fused step: <c>_fused_adamw_</c> divides gradients by its <c>grad_scale</c> (so it gets the clipping
    /// coefficient's reciprocal) and, when <c>found_inf</c> is 1, leaves parameters and moments untouched on the device;
    /// the step count is counted before the groups' calls and taken back after them for a skipped step.
    /// </summary>
    private void FusedStep(TorchScriptKernels kernels, double learningRate, Tensor gradientScale, Tensor apply)
    {
        var foundInfinite = (1 - apply.to(ScalarType.Float32)).reshape(1);
        // A zero coefficient (clipping an infinite norm) only comes with a skipped step; the kernel then reads nothing.
        var inverseScale = gradientScale.to(ScalarType.Float32).reciprocal().reshape(1);
        kernels.AdamWBegin(stepCount);
        foreach (var group in groups)
        {
            double groupRate = learningRate * group.LearningRateScale;
            kernels.AdamWGroup(group.Parameters, group.Gradients, group.ExpAvg, group.ExpAvgSq, stepCount, groupRate, beta1, beta2, group.WeightDecay, eps, inverseScale, foundInfinite);
        }
        kernels.AdamWEnd(stepCount, foundInfinite);
    }

    /// <summary>Writes the moments and step count (the parameters are saved with the model).</summary>
    public void Save(BinaryWriter writer)
    {
        writer.Write(groups.Count);
        writer.Write(stepCount.to(ScalarType.Float64).cpu().item<double>());
        foreach (var group in groups)
        {
            WriteTensor(writer, group.ExpAvg);
            WriteTensor(writer, group.ExpAvgSq);
        }
    }

    /// <summary>Restores what <see cref="Save"/> wrote; the parameter layout must be the same.</summary>
    public void Load(BinaryReader reader)
    {
        int count = reader.ReadInt32();
        if (count != groups.Count) throw new InvalidDataException($"The optimizer state holds {count} parameter groups; this model has {groups.Count}.");
        double steps = reader.ReadDouble();
        using var noGrad = torch.no_grad();
        stepCount.fill_(steps);
        foreach (var group in groups)
        {
            ReadTensor(reader, group.ExpAvg);
            ReadTensor(reader, group.ExpAvgSq);
        }
    }

    /// <summary>
    /// Moves <paramref name="reader"/> past an optimizer state written by <see cref="Save"/> without reading it into
    /// buffers, for a reader that needs what follows the state but not the state itself.
    /// </summary>
    public static void SkipState(BinaryReader reader)
    {
        int count = reader.ReadInt32();
        if (count < 0 || count > 1 << 16) throw new InvalidDataException($"The optimizer state is corrupt ({count} parameter groups).");
        reader.ReadDouble();
        var stream = reader.BaseStream;
        for (int i = 0; i < 2 * count; i++)
        {
            long length = reader.ReadInt64();
            if (length < 0) throw new InvalidDataException($"The optimizer state is corrupt (a buffer of {length} values).");
            long bytes = checked(length * sizeof(float));
            if (stream.Position + bytes > stream.Length) throw new EndOfStreamException("The optimizer state is truncated.");
            stream.Seek(bytes, SeekOrigin.Current);
        }
    }

    /// <summary>Frees the optimizer's buffers (the parameter and gradient buffers stay alive through the parameters).</summary>
    public void Dispose()
    {
        foreach (var group in groups) group.Dispose();
        stepCount.Dispose();
    }

    private static void WriteTensor(BinaryWriter writer, Tensor tensor)
    {
        float[] values = tensor.cpu().data<float>().ToArray();
        writer.Write(values.LongLength);
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        writer.Write(bytes);
    }

    private static void ReadTensor(BinaryReader reader, Tensor target)
    {
        long length = reader.ReadInt64();
        if (length != target.numel()) throw new InvalidDataException($"The optimizer state holds {length} values where the model needs {target.numel()}.");
        byte[] bytes = reader.ReadBytes(checked((int)(length * sizeof(float))));
        if (bytes.Length != length * sizeof(float)) throw new EndOfStreamException("The optimizer state is truncated.");
        var values = new float[length];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        using var source = torch.tensor(values);
        target.copy_(source);
    }

    private sealed class Group : IDisposable
    {
        public Group(IReadOnlyList<Parameter> parameters, double weightDecay, double learningRateScale, Device device)
        {
            WeightDecay = weightDecay;
            LearningRateScale = learningRateScale;
            long total = parameters.Sum(p => p.numel());
            Parameters = torch.empty(total, dtype: ScalarType.Float32, device: device);
            Gradients = torch.zeros(total, dtype: ScalarType.Float32, device: device);
            ExpAvg = torch.zeros(total, dtype: ScalarType.Float32, device: device);
            ExpAvgSq = torch.zeros(total, dtype: ScalarType.Float32, device: device);
            using var noGrad = torch.no_grad();
            long offset = 0;
            foreach (var p in parameters)
            {
                if (p.dtype != ScalarType.Float32) throw new ArgumentException($"FlatAdamW needs float32 parameters; one is {p.dtype}.");
                if (p.device.type != device.type || p.device.index != device.index && device.index >= 0)
                    throw new ArgumentException($"A parameter is on {p.device}, the optimizer on {device}: move the model first.");
                long n = p.numel();
                var slice = Parameters.narrow(0, offset, n).view(p.shape);
                slice.copy_(p);
                p.set_(slice);
                p.grad = Gradients.narrow(0, offset, n).view(p.shape);
                offset += n;
            }
        }

        public double WeightDecay { get; }

        public double LearningRateScale { get; }

        public Tensor Parameters { get; }

        public Tensor Gradients { get; }

        public Tensor ExpAvg { get; }

        public Tensor ExpAvgSq { get; }

        public void Dispose()
        {
            ExpAvg.Dispose();
            ExpAvgSq.Dispose();
        }
    }
}
