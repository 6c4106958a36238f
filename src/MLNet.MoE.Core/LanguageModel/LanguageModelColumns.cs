using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// The output columns of a language-model transformer, computed lazily row by row: Score, Perplexity, TokenCount,
/// TokenAccuracy from the scored column (token ids, or text tokenized with the model's tokenizer) and, with a prompt
/// column, GeneratedText. A row read twice (one getter per column) is scored once.
/// </summary>
internal sealed class LanguageModelColumns : ColumnMapper
{
    private const int ScoreColumns = 4;
    private readonly LanguageModelTransformerBase parent;
    private readonly int tokenIndex;
    private readonly bool tokensAreText;
    private readonly int promptIndex = -1;

    public LanguageModelColumns(LanguageModelTransformerBase parent, DataViewSchema inputSchema) : base(inputSchema)
    {
        this.parent = parent;
        var column = inputSchema.GetColumnOrNull(parent.TokenColumnName);
        tokensAreText = column?.Type is TextDataViewType;
        tokenIndex = tokensAreText ? column!.Value.Index : SchemaChecks.RequireTokenIds(inputSchema, parent.TokenColumnName, "Token").Index;
        // Ids made by another tokenizer (a pipeline's TokenizeForMoe that is not the model's) would be scored in the wrong vocabulary.
        if (!tokensAreText) TokenizerAnnotation.RequireSame(parent.Tokenizer, parent.SerializedTokenizer, inputSchema[tokenIndex], "the language model");
        var columns = new List<DataViewSchema.DetachedColumn>
        {
            new(LanguageModelTransformerBase.ScoreColumnName, NumberDataViewType.Single),
            new(LanguageModelTransformerBase.PerplexityColumnName, NumberDataViewType.Single),
            new(LanguageModelTransformerBase.TokenCountColumnName, NumberDataViewType.Single),
            new(LanguageModelTransformerBase.TokenAccuracyColumnName, NumberDataViewType.Single),
        };
        if (parent.PromptColumnName != null)
        {
            promptIndex = SchemaChecks.RequireText(inputSchema, parent.PromptColumnName, "Prompt").Index;
            columns.Add(new(LanguageModelTransformerBase.GeneratedTextColumnName, TextDataViewType.Instance));
        }
        AddedColumns = columns;
    }

    public override IReadOnlyList<DataViewSchema.DetachedColumn> AddedColumns { get; }

    public override IEnumerable<int> GetInputDependencies(Func<int, bool> isAddedColumnActive)
    {
        if (Enumerable.Range(0, ScoreColumns).Any(isAddedColumnActive)) yield return tokenIndex;
        if (promptIndex >= 0 && isAddedColumnActive(ScoreColumns)) yield return promptIndex;
    }

    public override Delegate?[] CreateGetters(DataViewRow input, Func<int, bool> isAddedColumnActive)
    {
        var getters = new Delegate?[AddedColumns.Count];
        if (Enumerable.Range(0, ScoreColumns).Any(isAddedColumnActive))
        {
            Func<int[]> readTokens = TokenReader(input);
            int[]? cachedTokens = null;
            StreamScore cached = default;
            StreamScore Current()
            {
                int[] tokens = readTokens();
                if (cachedTokens == null || !cachedTokens.AsSpan().SequenceEqual(tokens))
                {
                    cached = parent.ScoreTokens(tokens);
                    cachedTokens = tokens;
                }
                return cached;
            }
            getters[0] = (ValueGetter<float>)((ref float v) => v = (float)Current().MeanCrossEntropy);
            getters[1] = (ValueGetter<float>)((ref float v) => v = (float)Math.Exp(Current().MeanCrossEntropy));
            getters[2] = (ValueGetter<float>)((ref float v) => v = Current().Tokens);
            getters[3] = (ValueGetter<float>)((ref float v) => { var s = Current(); v = s.Tokens == 0 ? float.NaN : (float)s.Correct / s.Tokens; });
        }
        if (promptIndex >= 0 && isAddedColumnActive(ScoreColumns))
        {
            var promptGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[promptIndex]);
            ReadOnlyMemory<char> prompt = default;
            string? cachedPrompt = null;
            string cachedText = "";
            getters[ScoreColumns] = (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) =>
            {
                promptGetter(ref prompt);
                string text = prompt.ToString();
                if (cachedPrompt != text)
                {
                    cachedText = parent.Generate(text);
                    cachedPrompt = text;
                }
                v = cachedText.AsMemory();
            });
        }
        return getters;
    }

    private Func<int[]> TokenReader(DataViewRow input)
    {
        if (tokensAreText)
        {
            var textGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[tokenIndex]);
            ReadOnlyMemory<char> text = default;
            return () =>
            {
                textGetter(ref text);
                return parent.Tokenizer.Encode(text.ToString());
            };
        }
        var tokenGetter = input.GetGetter<VBuffer<int>>(input.Schema[tokenIndex]);
        VBuffer<int> buffer = default;
        return () =>
        {
            tokenGetter(ref buffer);
            return buffer.DenseValues().ToArray();
        };
    }
}
