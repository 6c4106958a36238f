using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace MLNet.MoE;

/// <summary>
/// Turns a text column into a variable-length vector of Int32 token ids with a <see cref="MoeTokenizer"/>.
/// Created by <c>mlContext.Transforms.Text.TokenizeForMoe(...)</c>. Fitting learns nothing: the tokenizer is given.
/// </summary>
internal sealed class TokenizingEstimator : IEstimator<TokenizingTransformer>
{
    private readonly IHostEnvironment env;
    private readonly string outputColumnName;
    private readonly string inputColumnName;
    private readonly MoeTokenizer tokenizer;

    internal TokenizingEstimator(IHostEnvironment env, string outputColumnName, string inputColumnName, MoeTokenizer tokenizer)
    {
        this.env = env ?? throw new ArgumentNullException(nameof(env));
        ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
        ArgumentException.ThrowIfNullOrWhiteSpace(inputColumnName);
        this.outputColumnName = outputColumnName;
        this.inputColumnName = inputColumnName;
        this.tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
    }

    /// <summary>Checks the input column and returns the transformer.</summary>
    public TokenizingTransformer Fit(IDataView input)
    {
        SchemaChecks.RequireText(input.Schema, inputColumnName, "Input");
        return new TokenizingTransformer(env, outputColumnName, inputColumnName, tokenizer);
    }

    /// <summary>The input schema plus the token-id column (a variable-length Int32 vector).</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        SchemaChecks.RequireText(inputSchema, inputColumnName, "Input");
        var columns = inputSchema.ToDictionary(c => c.Name);
        var annotations = new SchemaShape(new[]
        {
            new SchemaShape.Column(TokenizerAnnotation.Kind, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Byte, false),
        });
        columns[outputColumnName] = new SchemaShape.Column(outputColumnName, SchemaShape.Column.VectorKind.VariableVector, NumberDataViewType.Int32, false, annotations);
        return new SchemaShape(columns.Values);
    }
}
