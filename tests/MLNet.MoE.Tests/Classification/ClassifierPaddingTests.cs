using TorchSharp;
using static MLNet.MoE.Tests.Classification.ClassificationTestData;

namespace MLNet.MoE.Tests.Classification;

/// <summary>Padding never changes a row's logits; pooling reads the real tokens only.</summary>
public class ClassifierPaddingTests
{
    [Theory]
    [InlineData(TextPooling.Mean)]
    [InlineData(TextPooling.LastToken)]
    public void ARowScoresTheSameAloneAndInAPaddedBatch(TextPooling pooling)
    {
        using var model = new MoeTextClassifier(new MoeCausalLM(TinyConfig, seed: 4), 3, pooling, dropoutRate: 0.1, seed: 5);
        model.eval();
        var random = new Random(2);
        int[] Sequence(int length) => Enumerable.Range(0, length).Select(_ => random.Next(TinyConfig.VocabSize)).ToArray();
        var rows = new List<int[]> { Sequence(5), Sequence(17), Sequence(1), Sequence(30) };
        using var noGrad = torch.no_grad();
        using var context = new ForwardContext();
        var (ids, lengths) = TextClassificationBatches.Pad(rows, padId: 7, model.Device);
        var batch = model.Forward(ids, lengths, context).Logits.data<float>().ToArray();
        for (int r = 0; r < rows.Count; r++)
        {
            var (aloneIds, aloneLengths) = TextClassificationBatches.Pad(new[] { rows[r] }, padId: 7, model.Device);
            var alone = model.Forward(aloneIds, aloneLengths, context).Logits.data<float>().ToArray();
            for (int c = 0; c < 3; c++) Assert.Equal(alone[c], batch[r * 3 + c], 4);
        }

        // A different padding id gives the same logits too.
        var (otherIds, otherLengths) = TextClassificationBatches.Pad(rows, padId: 200, model.Device);
        var other = model.Forward(otherIds, otherLengths, context).Logits.data<float>().ToArray();
        for (int i = 0; i < batch.Length; i++) Assert.Equal(batch[i], other[i], 5);
    }

    [Fact]
    public void PoolingMatchesAHandComputationOverTheRealPositions()
    {
        using var mean = new MoeTextClassifier(new MoeCausalLM(TinyConfig, seed: 4), 2, TextPooling.Mean);
        using var last = new MoeTextClassifier(new MoeCausalLM(TinyConfig, seed: 4), 2, TextPooling.LastToken);
        using var hidden = torch.randn(2, 4, 3);
        using var lengths = torch.tensor(new long[] { 2, 4 });
        var h = hidden.data<float>().ToArray();
        var pooledMean = mean.Pool(hidden, lengths).data<float>().ToArray();
        var pooledLast = last.Pool(hidden, lengths).data<float>().ToArray();
        for (int d = 0; d < 3; d++)
        {
            Assert.Equal((h[0 * 12 + 0 * 3 + d] + h[0 * 12 + 1 * 3 + d]) / 2, pooledMean[d], 5);
            Assert.Equal(Enumerable.Range(0, 4).Sum(t => h[12 + t * 3 + d]) / 4, pooledMean[3 + d], 5);
            Assert.Equal(h[0 * 12 + 1 * 3 + d], pooledLast[d], 6);
            Assert.Equal(h[12 + 3 * 3 + d], pooledLast[3 + d], 6);
        }
    }

    [Fact]
    public void TheTransformerScoresBatchesLikeSingleRows()
    {
        var ml = new Microsoft.ML.MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Reviews(40));
        var model = ClassifierPipeline(ml, Options(epochs: 1)).Fit(data);
        var classifier = Classifier(model);
        try
        {
            var texts = Reviews(60).Skip(40).Select(r => r.Text).Append("").ToList();
            var batch = classifier.PredictProbabilities(texts.Select(t => classifier.Encode(t)).ToList(), batchSize: 8);
            for (int i = 0; i < texts.Count; i++)
            {
                var alone = classifier.PredictProbabilities(texts[i]);
                for (int c = 0; c < alone.Length; c++) Assert.Equal(alone[c], batch[i][c], 5);
            }
        }
        finally
        {
            classifier.Dispose();
        }
    }

    [Fact]
    public void TwoTextsAreJoinedByEndOfTextAndTruncatedToTheMaximum()
    {
        var tokenizer = MoeTokenizer.ByteLevel();
        int eot = tokenizer.EndOfTextId;
        var ids = MLNet.MoE.TextClassificationTokens.Encode(tokenizer, "ab", "cd", 16);
        Assert.Equal(new[] { eot }.Concat(tokenizer.Encode("ab")).Append(eot).Concat(tokenizer.Encode("cd")).Append(eot), ids);
        var truncated = MLNet.MoE.TextClassificationTokens.Encode(tokenizer, new string('x', 100), null, 10);
        Assert.Equal(10, truncated.Length);
        Assert.Equal(new[] { eot }.Concat(tokenizer.Encode(new string('x', 8))).Append(eot), truncated);
        Assert.Equal(new[] { eot, eot }, MLNet.MoE.TextClassificationTokens.Encode(tokenizer, "", null, 10));
    }
}
