using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Modeling;

/// <summary><see cref="ExpertRouter.Route"/> against a plain double-precision re-implementation of the routing rules.</summary>
public class ExpertRouterReferenceTests
{
    private const int Tokens = 96;

    public static TheoryData<string, int, int, int, int, bool, double> Cases => new()
    {
        // scoring/method, experts, n_group, topk_group, k, norm_topk_prob, routed_scaling_factor
        { "noaux_tc", 16, 4, 2, 4, true, 2.5 },
        { "noaux_tc", 16, 4, 1, 3, false, 2.5 },
        { "noaux_tc", 8, 1, 1, 2, true, 1.0 },
        { "group_limited_greedy", 16, 4, 2, 3, false, 16.0 },
        { "group_limited_greedy", 16, 4, 2, 3, true, 2.0 },
        { "greedy", 16, 4, 1, 6, false, 1.0 },
        { "greedy", 8, 1, 1, 2, true, 1.5 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void RouteMatchesThePlainReference(string method, int experts, int groups, int keptGroups, int k, bool normalise, double scale)
    {
        var config = SmallModels.Base with
        {
            NRoutedExperts = experts, NGroup = groups, TopkGroup = keptGroups, NumExpertsPerTok = k, NormTopkProb = normalise,
            RoutedScalingFactor = scale, TopkMethod = method, ScoringFunc = method == "noaux_tc" ? "sigmoid" : "softmax",
        };
        using var scope = torch.NewDisposeScope();
        using var model = new MoeCausalLM(config, 5);
        using var generator = new Generator(11);
        var state = model.state_dict();
        using (torch.no_grad())
        {
            state["model.layers.1.mlp.gate.weight"].copy_(torch.randn(experts, config.HiddenSize, generator: generator) * 0.15);
            state["model.layers.1.mlp.gate.e_score_correction_bias"].copy_(torch.rand(experts, generator: generator) * 0.6 - 0.3);
        }
        var x = torch.randn(Tokens, config.HiddenSize, generator: generator);
        var router = model.Layers[1].Moe!.Router;

        var (indices, weights, scores) = router.Route(x);
        Assert.Equal(new long[] { Tokens, k }, indices.shape);
        Assert.Equal(new long[] { Tokens, k }, weights.shape);
        Assert.Equal(new long[] { Tokens, experts }, scores.shape);

        double[,] w = ToDoubles(state["model.layers.1.mlp.gate.weight"]);
        double[] bias = state["model.layers.1.mlp.gate.e_score_correction_bias"].to(ScalarType.Float64).data<double>().ToArray();
        double[,] xs = ToDoubles(x);
        long[] ourIndices = indices.contiguous().data<long>().ToArray();
        float[] ourWeights = weights.contiguous().data<float>().ToArray();
        float[] ourScores = scores.contiguous().data<float>().ToArray();
        int biasChanged = 0;
        for (int n = 0; n < Tokens; n++)
        {
            double[] logits = new double[experts];
            for (int e = 0; e < experts; e++)
            {
                for (int h = 0; h < config.HiddenSize; h++) logits[e] += xs[n, h] * w[e, h];
            }
            var reference = Reference(config, logits, bias);
            for (int e = 0; e < experts; e++)
            {
                Assert.True(Math.Abs(reference.Scores[e] - ourScores[n * experts + e]) < 1e-6, $"token {n} expert {e}: score {ourScores[n * experts + e]} vs {reference.Scores[e]}");
            }
            var chosen = Enumerable.Range(0, k).Select(j => (int)ourIndices[n * k + j]).ToArray();
            Assert.Equal(reference.Weights.Keys.Order(), chosen.Order());
            for (int j = 0; j < k; j++)
            {
                double expected = reference.Weights[chosen[j]];
                Assert.True(Math.Abs(expected - ourWeights[n * k + j]) < 1e-5 * Math.Max(1, scale), $"token {n} expert {chosen[j]}: weight {ourWeights[n * k + j]} vs {expected}");
            }
            if (method == "noaux_tc" && !Reference(config, logits, new double[experts]).Weights.Keys.Order().SequenceEqual(chosen.Order())) biasChanged++;
        }
        if (method == "noaux_tc") Assert.True(biasChanged > 0, "the correction bias changed no token's choice: the test would not see it ignored");
    }

    /// <summary>The routing rules, written out: DeepSeek-V3 (sigmoid, noaux_tc) and DeepSeek-V2 (softmax, greedy / group_limited_greedy).</summary>
    private static (double[] Scores, Dictionary<int, double> Weights) Reference(MoeModelConfig config, double[] logits, double[] bias)
    {
        int experts = logits.Length;
        double[] scores = new double[experts];
        if (config.ScoringFunc == "sigmoid")
        {
            for (int e = 0; e < experts; e++) scores[e] = 1 / (1 + Math.Exp(-logits[e]));
        }
        else
        {
            double max = logits.Max();
            double total = logits.Sum(l => Math.Exp(l - max));
            for (int e = 0; e < experts; e++) scores[e] = Math.Exp(logits[e] - max) / total;
        }
        double[] choice = new double[experts];
        for (int e = 0; e < experts; e++) choice[e] = config.TopkMethod == "noaux_tc" ? scores[e] + bias[e] : scores[e];
        if (config.TopkMethod != "greedy" && config.NGroup > 1)
        {
            int perGroup = experts / config.NGroup;
            var groupScore = new double[config.NGroup];
            for (int g = 0; g < config.NGroup; g++)
            {
                var members = choice.Skip(g * perGroup).Take(perGroup).OrderDescending().ToArray();
                groupScore[g] = config.TopkMethod == "noaux_tc" ? members[0] + members[1] : members[0];
            }
            var kept = Enumerable.Range(0, config.NGroup).OrderByDescending(g => groupScore[g]).Take(config.TopkGroup).ToHashSet();
            for (int e = 0; e < experts; e++)
            {
                if (!kept.Contains(e / perGroup)) choice[e] = 0;
            }
        }
        int[] chosen = Enumerable.Range(0, experts).OrderByDescending(e => choice[e]).Take(config.NumExpertsPerTok).ToArray();
        double sum = chosen.Sum(e => scores[e]);
        var weights = new Dictionary<int, double>();
        foreach (int e in chosen)
        {
            double weight = config.NormTopkProb ? scores[e] / (sum + 1e-20) : scores[e];
            weights[e] = weight * config.RoutedScalingFactor;
        }
        return (scores, weights);
    }

    private static double[,] ToDoubles(Tensor matrix)
    {
        long rows = matrix.shape[0], cols = matrix.shape[1];
        float[] data = matrix.detach().contiguous().to(ScalarType.Float32).data<float>().ToArray();
        var result = new double[rows, cols];
        for (long r = 0; r < rows; r++)
        {
            for (long c = 0; c < cols; c++) result[r, c] = data[r * cols + c];
        }
        return result;
    }
}
