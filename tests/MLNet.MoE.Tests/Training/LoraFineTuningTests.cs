using Microsoft.ML;
using TorchSharp;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;
using static TorchSharp.torch;

namespace MLNet.MoE.Tests.Training;

/// <summary>LoRA fine-tuning of the language model: a frozen base, trained adapters, their equivalence with merged weights, zips and bad input.</summary>
public class LoraFineTuningTests
{
    private static readonly string[] EveryTarget = LoraOptions.AttentionAndMlpModules.Append("experts").ToArray();

    private static string WriteCheckpoint()
    {
        string directory = TestPaths.NewTempDirectory();
        using var model = new MoeCausalLM(SmallConfig with { VocabSize = MoeTokenizer.ByteLevel().VocabularySize }, seed: 9);
        HuggingFaceCheckpoint.Save(model, directory);
        return directory;
    }

    private static LanguageModelOptions LoraRun(string checkpoint, int steps, LoraOptions? lora = null)
    {
        var options = Options(steps);
        options.Model = null;
        options.InitialModel = LanguageModelTransformer.Over(HuggingFaceCheckpoint.Load(checkpoint), MoeTokenizer.ByteLevel());
        options.Lora = lora ?? new LoraOptions { Rank = 4, Alpha = 8, TargetModules = EveryTarget.ToList() };
        options.LearningRate = 1e-2;
        options.LogEverySteps = 1;
        return options;
    }

    [Fact]
    public void AdaptersTrainWhileTheSharedBaseStaysBitwiseUntouched()
    {
        string checkpoint = WriteCheckpoint();
        var ml = new MLContext(seed: 1);
        var options = LoraRun(checkpoint, steps: 8);
        var model = Train(ml, ml.Data.LoadFromEnumerable(Verses(80)), options).LastTransformer;

        // The base is shared with the initial model, not copied, and its every weight and buffer is as the file holds it.
        Assert.Same(options.InitialModel!.Model, model.Model);
        using (var untouched = HuggingFaceCheckpoint.Load(checkpoint))
        {
            var trainedBase = model.Model.state_dict();
            Assert.All(untouched.state_dict(), kv => Assert.True(TensorAssert.Same(kv.Value, trainedBase[kv.Key]), kv.Key));
        }
        Assert.All(model.Model.parameters(), p => Assert.False(p.requires_grad));

        var adapters = model.Adapters!;
        Assert.Contains("model.layers.1.mlp.experts", adapters.AdaptedModules);
        Assert.Contains("model.layers.0.self_attn.q_a_proj", adapters.AdaptedModules);
        Assert.DoesNotContain(adapters.AdaptedModules, m => m.StartsWith("model.layers.2.", StringComparison.Ordinal));
        // Every B factor moved away from its zero start: every adapter got gradients.
        Assert.All(adapters.NamedFactors().Where(f => f.Name.Contains("lora_B", StringComparison.Ordinal)),
            f => Assert.True(f.Factor.abs().max().item<float>() > 0, f.Name));
        var history = model.TrainingSummary!.History;
        Assert.True(history[^1].Loss < history[0].Loss, $"{history[0].Loss} -> {history[^1].Loss}");
    }

    [Fact]
    public void TheAdaptedModelComputesWhatItsMergedWeightsCompute()
    {
        string checkpoint = WriteCheckpoint();
        var ml = new MLContext(seed: 1);
        var model = Train(ml, ml.Data.LoadFromEnumerable(Verses(60)), LoraRun(checkpoint, steps: 5)).LastTransformer;
        using var merged = model.Model.Copy();
        model.Adapters!.MergeInto(merged);
        using var scope = torch.NewDisposeScope();
        var ids = torch.tensor(new long[] { 5, 70, 80, 90, 33, 100, 101, 102 }, new long[] { 2, 4 });
        using var noGrad = torch.no_grad();
        using var adapted = new ForwardContext { Adapters = model.Adapters };
        using var plain = new ForwardContext();
        var expected = merged.Forward(ids, plain);
        var actual = model.Model.Forward(ids, adapted);
        Assert.True(TensorAssert.Close(expected, actual, 1e-5), "adapted logits differ from the merged model's");
        // and the adapters do change the function.
        using var withoutAdapters = new ForwardContext();
        Assert.False(TensorAssert.Close(expected, model.Model.Forward(ids, withoutAdapters), 1e-5));
    }

    [Fact]
    public void ALinearAdapterHasTheForwardAndBackwardOfItsMergedWeight()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new Generator(4);
        var linear = nn.Linear(12, 7, hasBias: false);
        using var adapter = new LoraLinearAdapter(12, 7, rank: 3, scaling: 2.5, dropout: 0, torch.CPU, generator);
        using (torch.no_grad()) adapter.B.uniform_(-0.5, 0.5, generator);
        var x = torch.randn(5, 12, generator: generator);
        var upstream = torch.randn(5, 7, generator: generator);

        var y = linear.weight!.matmul(x.t()).t() + adapter.Delta(x, training: false);
        (y * upstream).sum().backward();
        var (gradA, gradB) = (adapter.A.grad!.clone(), adapter.B.grad!.clone());
        adapter.A.grad!.zero_();
        adapter.B.grad!.zero_();

        var merged = linear.weight!.detach() + adapter.B.matmul(adapter.A) * 2.5;
        var yMerged = nn.functional.linear(x, merged);
        (yMerged * upstream).sum().backward();
        Assert.True(TensorAssert.Close(yMerged, y, 1e-6));
        Assert.True(TensorAssert.Close(adapter.A.grad!, gradA, 1e-5));
        Assert.True(TensorAssert.Close(adapter.B.grad!, gradB, 1e-5));
    }

    [Fact]
    public void ActivationRecomputationGivesTheAdaptersTheSameTraining()
    {
        string checkpoint = WriteCheckpoint();
        double[] Losses(bool recompute)
        {
            var ml = new MLContext(seed: 1);
            var options = LoraRun(checkpoint, steps: 4);
            options.RecomputeActivations = recompute;
            options.ValidationFraction = 0;
            return Train(ml, ml.Data.LoadFromEnumerable(Verses(40)), options).LastTransformer.TrainingSummary!.History.Select(h => h.Loss).ToArray();
        }
        var kept = Losses(false);
        var recomputed = Losses(true);
        Assert.Equal(kept.Length, recomputed.Length);
        for (int i = 0; i < kept.Length; i++) Assert.True(Math.Abs(kept[i] - recomputed[i]) < 1e-5, $"step {i + 1}: {kept[i]} vs {recomputed[i]}");
        Assert.True(recomputed[^1] < recomputed[0]);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void AResumedRunEndsWithTheUninterruptedRunsAdapters(bool trainRouter, bool trainNorms)
    {
        string checkpoint = WriteCheckpoint();
        LanguageModelTransformer Run(int steps, string? folder, string? resume)
        {
            var ml = new MLContext(seed: 1);
            var options = LoraRun(checkpoint, steps, new LoraOptions { Rank = 4, Alpha = 8, TargetModules = EveryTarget.ToList(), TrainRouter = trainRouter, TrainNorms = trainNorms });
            options.ValidationFraction = 0;
            options.CheckpointDirectory = folder;
            options.CheckpointEverySteps = 3;
            options.ResumeFrom = resume;
            return Train(ml, ml.Data.LoadFromEnumerable(Verses(40)), options).LastTransformer;
        }
        string folder = TestPaths.NewTempDirectory();
        var whole = Run(6, folder, null);
        // Resumed from the run's own step-3 checkpoint (adapters, optimizer state, schedule and sampler position).
        var resumed = Run(6, null, Path.Combine(folder, "checkpoint-step00000003.moeckpt"));
        var expected = whole.Adapters!.NamedFactors().ToDictionary(f => f.Name, f => f.Factor);
        // With TrainRouter and TrainNorms the checkpoint holds the trained router and norm copies too.
        Assert.Equal(expected.Keys, resumed.Adapters!.NamedFactors().Select(f => f.Name));
        Assert.Equal(trainRouter, expected.ContainsKey("model.layers.1.mlp.gate.weight"));
        Assert.Equal(trainNorms, expected.ContainsKey("model.norm.weight"));
        Assert.All(resumed.Adapters!.NamedFactors(), f => Assert.True(TensorAssert.Close(expected[f.Name], f.Factor, 1e-6), f.Name));
    }

    [Fact]
    public void ThePipelineZipKeepsTheAdaptersAndRefusesThemOnAnotherBase()
    {
        string checkpoint = WriteCheckpoint();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Verses(30));
        var options = LoraRun(checkpoint, steps: 3);
        options.Generation = new GenerationOptions { MaxNewTokens = 6 };
        var pipeline = Train(ml, data, options);
        var before = ml.Data.CreateEnumerable<ScoredRow>(pipeline.Transform(data), reuseRowObject: false).ToList();
        string zip = Path.Combine(TestPaths.NewTempDirectory(), "lora.zip");
        ml.MoE().SaveModel(pipeline, data.Schema, zip);
        var loaded = new MLContext(seed: 2).Model.Load(zip, out _);
        var after = ml.Data.CreateEnumerable<ScoredRow>(loaded.Transform(data), reuseRowObject: false).ToList();
        Assert.Equal(before.Select(r => r.Score), after.Select(r => r.Score));
        Assert.Equal(before.Select(r => r.GeneratedText), after.Select(r => r.GeneratedText));

        // The adapters entry read against other base weights is refused, naming the mismatch.
        var trained = pipeline.LastTransformer;
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) LoraAdaptersFormat.Write(writer, trained.Adapters!);
        using var otherBase = new MoeCausalLM(trained.Config, seed: 77);
        stream.Position = 0;
        using var reader = new BinaryReader(stream);
        var error = Assert.Throws<InvalidDataException>(() => LoraAdaptersFormat.Read(reader, otherBase, "LoraAdapters.bin"));
        Assert.Contains("other base weights", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadLoraOptionsAreRefusedNamingTheOptionAndTheModule()
    {
        string checkpoint = WriteCheckpoint();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Verses(20));

        var noBase = Options(2);
        noBase.Lora = new LoraOptions();
        Assert.Contains("Lora", Assert.ThrowsAny<ArgumentException>(() => Train(ml, data, noBase)).Message, StringComparison.Ordinal);

        var typo = LoraRun(checkpoint, 2, new LoraOptions { TargetModules = new List<string> { "qproj" } });
        Assert.Contains("'qproj'", Assert.ThrowsAny<ArgumentException>(() => Train(ml, data, typo)).Message, StringComparison.Ordinal);

        var router = LoraRun(checkpoint, 2, new LoraOptions { TargetModules = new List<string> { "gate" } });
        Assert.Contains("router", Assert.ThrowsAny<ArgumentException>(() => Train(ml, data, router)).Message, StringComparison.Ordinal);

        var tooWide = LoraRun(checkpoint, 2, new LoraOptions { Rank = 17, TargetModules = new List<string> { "kv_b_proj" } });
        var wide = Assert.ThrowsAny<ArgumentException>(() => Train(ml, data, tooWide));
        Assert.Contains("kv_b_proj", wide.Message, StringComparison.Ordinal);
        Assert.Contains("Rank (17)", wide.Message, StringComparison.Ordinal);

        var absent = LoraRun(checkpoint, 2, new LoraOptions { TargetModules = new List<string> { "model.layers.9.self_attn.o_proj" } });
        Assert.Contains("model.layers.9.self_attn.o_proj", Assert.ThrowsAny<ArgumentException>(() => Train(ml, data, absent)).Message, StringComparison.Ordinal);
    }
}
