using Microsoft.ML;
using Microsoft.ML.Data;
using static MLNet.MoE.Tests.Pipeline.PipelineTestData;

namespace MLNet.MoE.Tests.Pipeline;

public class TokenizingTransformerTests
{
    private sealed class NumberRow
    {
        public float Text { get; set; }
    }

    [Fact]
    public void TokenizesTextIntoAnInt32VectorThatCarriesItsTokenizer()
    {
        var ml = new MLContext(seed: 1);
        var tokenizer = MoeTokenizer.Gpt2();
        var data = ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "Hello world" }, new TextRow { Text = "" } });
        var transformed = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", tokenizer).Fit(data).Transform(data);
        var column = transformed.Schema["Tokens"];
        Assert.Equal(NumberDataViewType.Int32, ((VectorDataViewType)column.Type).ItemType);
        Assert.Equal(tokenizer.Encode("Hello world"), TokenizerAnnotation.TryGet(column)!.Encode("Hello world"));
        var rows = transformed.GetColumn<VBuffer<int>>("Tokens").Select(v => v.DenseValues().ToArray()).ToList();
        Assert.Equal(tokenizer.Encode("Hello world"), rows[0]);
        Assert.Empty(rows[1]);
    }

    [Fact]
    public void MissingOrWronglyTypedInputColumnIsNamedAtFitAndSchemaTime()
    {
        var ml = new MLContext(seed: 1);
        var estimator = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text");
        var wrong = ml.Data.LoadFromEnumerable(new[] { new NumberRow { Text = 1 } });
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => estimator.Fit(wrong));
        Assert.Contains("'Text'", error.Message);
        Assert.Contains("Text (string)", error.Message);
        var missing = ml.Transforms.Text.TokenizeForMoe("Tokens", "Body");
        var data = ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "x" } });
        Assert.Contains("'Body'", Assert.Throws<ArgumentOutOfRangeException>(() => missing.Fit(data)).Message);
        Assert.Contains("'Body'", Assert.Throws<ArgumentOutOfRangeException>(() => missing.GetOutputSchema(SchemaChecks.ShapeOf(data.Schema))).Message);
    }

    [Fact]
    public void SavedTokenizerTransformLoadsAndTokenizesTheSame()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Verses(3));
        var model = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", MoeTokenizer.Cl100kBase()).Fit(data);
        string path = Path.Combine(TestPaths.NewTempDirectory(), "tokenizer.zip");
        ml.Model.Save(model, data.Schema, path);
        var loaded = new MLContext(seed: 2).Model.Load(path, out _);
        var expected = model.Transform(data).GetColumn<VBuffer<int>>("Tokens").Select(v => v.DenseValues().ToArray()).ToList();
        var actual = loaded.Transform(data).GetColumn<VBuffer<int>>("Tokens").Select(v => v.DenseValues().ToArray()).ToList();
        Assert.Equal(expected, actual);
    }
}
