using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// The token-id column made by <see cref="TokenizingTransformer"/> carries its tokenizer as an annotation
/// (serialized bytes), so a language-model trainer further down the pipeline finds the tokenizer without being told twice.
/// </summary>
internal static class TokenizerAnnotation
{
    /// <summary>The annotation kind on token-id columns.</summary>
    public const string Kind = "MLNet.MoE.TokenizerState";

    internal static DataViewSchema.Annotations Create(MoeTokenizer tokenizer)
    {
        byte[] state = tokenizer.Serialize();
        var builder = new DataViewSchema.Annotations.Builder();
        builder.Add(Kind, new VectorDataViewType(NumberDataViewType.Byte, state.Length), (ref VBuffer<byte> value) => value = new VBuffer<byte>(state.Length, state));
        return builder.ToAnnotations();
    }

    /// <summary>
    /// The tokenizer a trainer uses for <paramref name="column"/>: <paramref name="given"/> when set, else the column's
    /// annotation. Refuses a given tokenizer that differs from the one that made the column, naming
    /// <paramref name="optionName"/>: the model would learn the ids of one vocabulary and decode with another.
    /// </summary>
    internal static MoeTokenizer? Resolve(MoeTokenizer? given, DataViewSchema.Column column, string optionName)
    {
        var annotated = TryGet(column);
        if (given == null || annotated == null) return given ?? annotated;
        if (!given.Serialize().AsSpan().SequenceEqual(annotated.Serialize()))
            throw new ArgumentException(
                $"{optionName} ({given}) is not the tokenizer that made token column '{column.Name}' ({annotated}): the model would learn one vocabulary's ids and decode them with another. Leave {optionName} unset to use the column's tokenizer, or tokenize with the one you give.",
                optionName);
        return given;
    }

    /// <summary>The tokenizer attached to <paramref name="column"/>, or null when it carries none.</summary>
    public static MoeTokenizer? TryGet(DataViewSchema.Column column)
    {
        var annotation = column.Annotations.Schema.GetColumnOrNull(Kind);
        if (annotation == null) return null;
        VBuffer<byte> state = default;
        column.Annotations.GetValue(Kind, ref state);
        return MoeTokenizer.Deserialize(state.DenseValues().ToArray());
    }
}
