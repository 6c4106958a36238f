using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// The output columns of a text-classifier transformer, computed lazily row by row: <c>PredictedLabel</c> (a key over the
/// classes, with the label's key values as its <c>KeyValues</c> annotation) and <c>Score</c> (class probabilities, with
/// slot names and the multiclass score-column kind, so ML.NET's multiclass evaluator reads them). A row read twice (one
/// getter per column) is scored once.
/// </summary>
internal sealed class TextClassificationColumns : ColumnMapper
{
    private readonly TextClassificationTransformerBase parent;
    private readonly int textIndex;
    private readonly int secondIndex = -1;

    public TextClassificationColumns(TextClassificationTransformerBase parent, LabelKeyValues? keyValues, DataViewSchema inputSchema) : base(inputSchema)
    {
        this.parent = parent;
        textIndex = SchemaChecks.RequireText(inputSchema, parent.TextColumnName, "Text").Index;
        if (parent.SecondTextColumnName != null) secondIndex = SchemaChecks.RequireText(inputSchema, parent.SecondTextColumnName, "SecondText").Index;
        var predicted = new DataViewSchema.Annotations.Builder();
        var score = new DataViewSchema.Annotations.Builder();
        if (keyValues != null)
        {
            keyValues.AddKeyValues(predicted);
            string[] names = keyValues.AsText();
            score.Add(AnnotationUtils.Kinds.SlotNames, new VectorDataViewType(TextDataViewType.Instance, names.Length),
                (ValueGetter<VBuffer<ReadOnlyMemory<char>>>)((ref VBuffer<ReadOnlyMemory<char>> v) => new VBuffer<ReadOnlyMemory<char>>(names.Length, names.Select(n => n.AsMemory()).ToArray()).CopyTo(ref v)));
        }
        score.Add(AnnotationUtils.Kinds.ScoreColumnKind, TextDataViewType.Instance, (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) => v = AnnotationUtils.Const.ScoreColumnKind.MulticlassClassification.AsMemory()));
        score.Add(AnnotationUtils.Kinds.ScoreValueKind, TextDataViewType.Instance, (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) => v = AnnotationUtils.Const.ScoreValueKind.Score.AsMemory()));
        AddedColumns = new List<DataViewSchema.DetachedColumn>
        {
            new(parent.PredictedLabelColumnName, new KeyDataViewType(typeof(uint), parent.ClassCount), predicted.ToAnnotations()),
            new(parent.ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, parent.ClassCount), score.ToAnnotations()),
        };
    }

    public override IReadOnlyList<DataViewSchema.DetachedColumn> AddedColumns { get; }

    public override IEnumerable<int> GetInputDependencies(Func<int, bool> isAddedColumnActive)
    {
        if (!isAddedColumnActive(0) && !isAddedColumnActive(1)) yield break;
        yield return textIndex;
        if (secondIndex >= 0) yield return secondIndex;
    }

    public override Delegate?[] CreateGetters(DataViewRow input, Func<int, bool> isAddedColumnActive)
    {
        var getters = new Delegate?[2];
        if (!isAddedColumnActive(0) && !isAddedColumnActive(1)) return getters;
        var textGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[textIndex]);
        var secondGetter = secondIndex >= 0 ? input.GetGetter<ReadOnlyMemory<char>>(input.Schema[secondIndex]) : null;
        ReadOnlyMemory<char> text = default, second = default;
        string? cachedText = null, cachedSecond = null;
        float[] cached = Array.Empty<float>();
        float[] Current()
        {
            // Cached by content, not row position: a PredictionEngine reuses one row object for every prediction.
            textGetter(ref text);
            secondGetter?.Invoke(ref second);
            string first = text.ToString();
            string? other = secondGetter != null ? second.ToString() : null;
            if (cachedText == null || first != cachedText || other != cachedSecond)
            {
                cached = parent.PredictProbabilities(first, other);
                cachedText = first;
                cachedSecond = other;
            }
            return cached;
        }
        getters[0] = (ValueGetter<uint>)((ref uint v) =>
        {
            var p = Current();
            int best = 0;
            for (int c = 1; c < p.Length; c++) if (p[c] > p[best]) best = c;
            v = (uint)best + 1;
        });
        getters[1] = (ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) =>
        {
            var p = Current();
            new VBuffer<float>(p.Length, p).CopyTo(ref v);
        });
        return getters;
    }
}
