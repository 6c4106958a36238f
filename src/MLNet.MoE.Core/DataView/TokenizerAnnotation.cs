using System.Security.Cryptography;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>
/// The token-id column made by <c>TokenizingTransformer</c> carries its tokenizer as an annotation (serialized bytes), so
/// a language-model trainer further down the pipeline finds the tokenizer without being told twice, and a language model
/// reading the column can tell whether its ids are those of its own vocabulary.
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
        byte[]? state = TryGetState(column);
        return state == null ? null : MoeTokenizer.Deserialize(state);
    }

    /// <summary>The serialized tokenizer attached to <paramref name="column"/>, or null when it carries none.</summary>
    public static byte[]? TryGetState(DataViewSchema.Column column)
    {
        var annotation = column.Annotations.Schema.GetColumnOrNull(Kind);
        if (annotation == null || annotation.Value.Type is not VectorDataViewType { ItemType: NumberDataViewType number } || number.RawType != typeof(byte)) return null;
        VBuffer<byte> state = default;
        column.Annotations.GetValue(Kind, ref state);
        return state.DenseValues().ToArray();
    }

    /// <summary>
    /// Refuses token column <paramref name="column"/> when the tokenizer that made it (its annotation) is not
    /// <paramref name="model"/>'s: the model would read the ids of one vocabulary as those of another. A column without
    /// the annotation (ids from elsewhere) is taken as it is. The message names the column and both tokenizers, each
    /// with the start of its SHA-256.
    /// </summary>
    /// <param name="model">The tokenizer of the model reading the column.</param>
    /// <param name="modelState">Its serialized form (<see cref="MoeTokenizer.Serialize"/>), computed once by the caller.</param>
    /// <param name="column">The token-id column.</param>
    /// <param name="role">Who reads the column, for the message ("The language model").</param>
    internal static void RequireSame(MoeTokenizer model, byte[] modelState, DataViewSchema.Column column, string role)
    {
        byte[]? columnState = TryGetState(column);
        if (columnState == null || columnState.AsSpan().SequenceEqual(modelState)) return;
        throw new ArgumentOutOfRangeException("Token",
            $"Token column '{column.Name}' was made by tokenizer {Describe(columnState)}, but {role} reads ids of tokenizer '{MessageText.Printable(model.Name)}' ({model.VocabularySize} ids, SHA-256 {ShortDigest(modelState)}): " +
            "its scores and text would come from another vocabulary. Tokenize the column with the model's tokenizer (the same TokenizeForMoe the model was trained behind), or score the text column itself.");
    }

    private static string Describe(byte[] state)
    {
        try
        {
            return $"'{MessageText.Printable(TokenizerState.FromBytes(state).Name)}' (SHA-256 {ShortDigest(state)})";
        }
        catch (InvalidDataException)
        {
            return $"of an unreadable state (SHA-256 {ShortDigest(state)})";
        }
    }

    private static string ShortDigest(byte[] state) => Convert.ToHexStringLower(SHA256.HashData(state))[..16] + "…";
}
