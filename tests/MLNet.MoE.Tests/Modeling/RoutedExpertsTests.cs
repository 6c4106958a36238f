using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Modeling;

/// <summary>The capacity-padded batched experts against a naive loop over tokens and their chosen experts.</summary>
public class RoutedExpertsTests
{
    private static readonly MoeModelConfig Config = SmallModels.Base with { NRoutedExperts = 4, NGroup = 1, NumExpertsPerTok = 2 };

    private static RoutedExperts RandomExperts(Generator generator)
    {
        var experts = new RoutedExperts(Config);
        using var noGrad = torch.no_grad();
        experts.GateUpProj.normal_(0, 0.3, generator);
        experts.DownProj.normal_(0, 0.3, generator);
        return experts;
    }

    /// <summary>Σ over the kept assignments of w · down_e(silu(gate_e x) · up_e x), token by token, expert by expert.</summary>
    private static Tensor Naive(RoutedExperts experts, Tensor x, long[,] indices, float[,] weights, Func<int, int, bool> kept)
    {
        int intermediate = Config.MoeIntermediateSize;
        var output = torch.zeros_like(x);
        for (int n = 0; n < indices.GetLength(0); n++)
        {
            for (int j = 0; j < indices.GetLength(1); j++)
            {
                if (!kept(n, j)) continue;
                long e = indices[n, j];
                var gate = experts.GateUpProj[e].narrow(0, 0, intermediate);
                var up = experts.GateUpProj[e].narrow(0, intermediate, intermediate);
                var hidden = nn.functional.silu(torch.mv(gate, x[n])) * torch.mv(up, x[n]);
                output[n] += torch.mv(experts.DownProj[e], hidden) * weights[n, j];
            }
        }
        return output;
    }

    private static Tensor AsTensor(long[,] values) => torch.tensor(values.Cast<long>().ToArray(), new long[] { values.GetLength(0), values.GetLength(1) });

    private static Tensor AsTensor(float[,] values) => torch.tensor(values.Cast<float>().ToArray(), new long[] { values.GetLength(0), values.GetLength(1) });

    [Fact]
    public void InferenceOutputEqualsTheNaiveLoopAndDropsNothing()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var generator = new Generator(21);
        using var experts = RandomExperts(generator);
        const int n = 13;
        var x = torch.randn(n, Config.HiddenSize, generator: generator);
        var random = new Random(5);
        var indices = new long[n, 2];
        var weights = new float[n, 2];
        var expectedLoad = new long[Config.NRoutedExperts];
        for (int t = 0; t < n; t++)
        {
            // Skewed towards expert 0 so one expert's load exceeds the mean.
            int first = t % 3 == 2 ? random.Next(1, 4) : 0;
            int second = (first + 1 + random.Next(3)) % 4;
            indices[t, 0] = first;
            indices[t, 1] = second;
            weights[t, 0] = (float)random.NextDouble();
            weights[t, 1] = (float)random.NextDouble();
            expectedLoad[first]++;
            expectedLoad[second]++;
        }
        var (output, load, dropped) = experts.Forward(x, AsTensor(indices), AsTensor(weights), training: false, capacityFactor: 1.0);
        var expected = Naive(experts, x, indices, weights, (_, _) => true);
        Assert.True(SmallModels.MaxDifference(expected, output) < 1e-5, $"max difference {SmallModels.MaxDifference(expected, output):E3}");
        Assert.Equal(expectedLoad, load.data<long>().ToArray());
        Assert.Equal(0L, dropped.item<long>());
    }

    [Fact]
    public void TrainingDropsAssignmentsOverCapacityFirstComeFirstServedAndCountsThem()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var generator = new Generator(22);
        using var experts = RandomExperts(generator);
        const int n = 9;
        const double capacityFactor = 1.0;
        var x = torch.randn(n, Config.HiddenSize, generator: generator);
        var indices = new long[n, 2];
        var weights = new float[n, 2];
        for (int t = 0; t < n; t++)
        {
            // Every token picks expert 0 (load 9) plus one of experts 1..3 (load 3 each).
            indices[t, 0] = t % 2 == 0 ? 0 : 1 + t % 3;
            indices[t, 1] = t % 2 == 0 ? 1 + t % 3 : 0;
            weights[t, 0] = 0.25f + 0.05f * t;
            weights[t, 1] = 1.0f - 0.03f * t;
        }
        // C = ⌈capacity factor · N·K / E⌉; each expert keeps its first C assignments in token order.
        long capacity = (long)Math.Ceiling(capacityFactor * n * 2 / Config.NRoutedExperts);
        var seen = new long[Config.NRoutedExperts];
        var kept = new bool[n, 2];
        long expectedDropped = 0;
        for (int t = 0; t < n; t++)
        {
            for (int j = 0; j < 2; j++)
            {
                kept[t, j] = seen[indices[t, j]]++ < capacity;
                if (!kept[t, j]) expectedDropped++;
            }
        }
        Assert.True(expectedDropped > 0);

        var (output, load, dropped) = experts.Forward(x, AsTensor(indices), AsTensor(weights), training: true, capacityFactor: capacityFactor);
        Assert.Equal(expectedDropped, dropped.item<long>());
        Assert.Equal(seen, load.data<long>().ToArray());
        var expected = Naive(experts, x, indices, weights, (t, j) => kept[t, j]);
        Assert.True(SmallModels.MaxDifference(expected, output) < 1e-5, $"max difference {SmallModels.MaxDifference(expected, output):E3}");
        // The same routing without a capacity limit differs exactly at the tokens that lost an assignment.
        var full = Naive(experts, x, indices, weights, (_, _) => true);
        for (int t = 0; t < n; t++)
        {
            bool lost = !kept[t, 0] || !kept[t, 1];
            double difference = SmallModels.MaxDifference(full[t], output[t]);
            Assert.True(lost ? difference > 1e-4 : difference < 1e-5, $"token {t}: lost an assignment {lost}, difference {difference:E3}");
        }
    }
}
